"""Rebuilding the index in a child process: read the catalog, train the tagger, write a
build beside the live one and point CURRENT at it.

It runs in its own process so that its CPU work never competes with the caller's event
loop for the GIL; it reads SQLite read-only (WAL lets the bot keep writing meanwhile), or
PostgreSQL when DATABASE_URL is set (a chunk at a time, keyset by id, either way).
Both ends of the pipe between them live here. The child sends, in order:

    ("progress", stage, done, total)   any number of times
    ("done", build_path)               the build is complete and current
    ("error", message)                 a failure to tell the operator as it is
    ("crash", traceback)               anything else

and a child that dies without a word (killed, out of memory) is reported as such.
"""

from __future__ import annotations

import asyncio
import errno
import multiprocessing
import random
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from ..catalog.db import SyncReader, is_damaged
from ..catalog.store import read_tracks
from ..config import Settings
from ..disk import describe_free
from ..errors import CatalogEmptyError, DatabaseDamagedError, EarshotError
from ..results import Progress
from .tagger import train_tagger
from .vector_index import IndexWriter
from .vectors import VectorSpace

TAGGER_TRAIN_MAX_CLIPS = 100_000
SPECIFIC_KINDS = ("genre", "instrument", "mood")


def rebuild(
    database: Path | str,
    index_dir: Path,
    *,
    trees: int,
    tagger_steps: int,
    progress: Progress,
    prune_grace_s: float = 0.0,
    tagger_members: int = 1,
) -> tuple[Path, dict]:
    """Build and swap in a new index over every track present when it starts.

    ``database`` is the SQLite file, or the PostgreSQL URL (DATABASE_URL)."""
    started = time.perf_counter()
    db = SyncReader(database)
    try:
        up_to, total = db.one("SELECT COALESCE(MAX(id), 0), COUNT(*) FROM tracks")
        if total == 0:
            raise CatalogEmptyError()
        kinds = {f"k{n}": kind for n, kind in enumerate(SPECIFIC_KINDS)}
        marks = ", ".join(f":{name}" for name in kinds)
        specific = [
            i
            for (i,) in db.all(
                f"SELECT idx FROM classes WHERE kind IN ({marks}) ORDER BY idx", kinds
            )
        ]
        if not specific:
            raise EarshotError("The catalog has no class list; run ingest again.")

        # A deterministic sample of labelled clips (reservoir) trains the tagger.
        frames: list[np.ndarray] = []
        labels: list[tuple[int, ...]] = []
        rng = random.Random(0)
        seen = done = 0
        for chunk in read_tracks(db, up_to):
            for track in chunk:
                done += 1
                if not track.labels:
                    continue
                seen += 1
                if len(frames) < TAGGER_TRAIN_MAX_CLIPS:
                    frames.append(track.frames)  # type: ignore[arg-type]
                    labels.append(track.labels)
                elif (j := rng.randrange(seen)) < TAGGER_TRAIN_MAX_CLIPS:
                    frames[j], labels[j] = track.frames, track.labels  # type: ignore[call-overload]
            progress("reading", done, total)
        if not frames:
            raise EarshotError("No labelled clips in the catalog to learn tags from.")
        tagger_started = time.perf_counter()
        tagger = train_tagger(
            frames,
            labels,
            specific,
            steps=tagger_steps,
            members=tagger_members,
            progress=lambda d, t: progress("training tagger", d, t),
        )
        tagger_s = time.perf_counter() - tagger_started
        del frames, labels
        space = VectorSpace(tagger)

        writer = IndexWriter(index_dir, total, space.dim, trees, prune_grace_s=prune_grace_s)
        try:
            done = 0
            for chunk in read_tracks(db, up_to):
                ids = np.array([t.id for t in chunk], dtype=np.int64)
                writer.add(
                    ids, space.item_vectors([t.frames for t in chunk], [t.labels for t in chunk])
                )
                done += len(chunk)
                progress("vectors", done, total)
            build_s = writer.build(progress)
            extra = {
                "tagger_s": round(tagger_s, 2),
                "build_s": round(build_s, 2),
                "total_s": round(time.perf_counter() - started, 2),
                "tagger_clips": min(seen, TAGGER_TRAIN_MAX_CLIPS),
                "tagger_members": tagger_members,
                "tagger_steps": tagger_steps,
            }
            path = writer.commit(tagger, space, extra)
        except BaseException:
            writer.abort()
            raise
    finally:
        db.close()
    return path, extra


def rebuild_in_child(
    connection: Connection,
    database: Path | str,
    index_dir: Path,
    trees: int,
    tagger_steps: int,
    prune_grace_s: float = 0.0,
    tagger_members: int = 1,
) -> None:
    """The child process's entry: progress, then ("done", path) or ("error", ...)."""
    last = [0.0]

    def progress(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.2 or done == total:
            last[0] = now
            connection.send(("progress", stage, done, total))

    try:
        path, _ = rebuild(
            database,
            index_dir,
            trees=trees,
            tagger_steps=tagger_steps,
            progress=progress,
            prune_grace_s=prune_grace_s,
            tagger_members=tagger_members,
        )
        connection.send(("done", str(path)))
    except EarshotError as exc:
        connection.send(("error", str(exc)))
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            connection.send(
                (
                    "error",
                    (
                        f"There is not enough disk space to write the index: "
                        f"{describe_free(index_dir)} ({exc.strerror}). The old index keeps "
                        "serving; free some space and run reindex again."
                    ),
                )
            )
        else:
            connection.send(("crash", traceback.format_exc()))
    except BaseException as exc:
        if is_damaged(exc):  # the database it reads, not the rebuild, is at fault
            connection.send(("damaged", str(exc)))
        else:
            connection.send(("crash", traceback.format_exc()))
    finally:
        connection.close()


async def rebuild_in_background(settings: Settings, progress: Progress) -> Path:
    """Run ``rebuild`` in a child process, relaying its progress; the new build's path.

    The child is stopped if the caller is cancelled; whatever it did not finish is left
    as a partial build that the next rebuild clears, and the old index keeps serving.
    """
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(
        target=rebuild_in_child,
        name="earshot-reindex",
        daemon=True,
        args=(
            sender,
            settings.database_url or settings.database_path.resolve(),
            settings.index_dir.resolve(),
            settings.index_trees,
            settings.tagger_steps,
            settings.index_prune_grace_s,
            settings.tagger_members,
        ),
    )
    child.start()
    sender.close()
    outcome: tuple | None = None
    try:
        while outcome is None:
            if not receiver.poll():
                await asyncio.sleep(0.1)
                continue
            try:
                message = receiver.recv()
            except EOFError:  # the child is gone without a word
                await asyncio.to_thread(child.join, 10)
                raise EarshotError(
                    f"The rebuild process stopped unexpectedly (exit code "
                    f"{child.exitcode}); the old index keeps serving."
                ) from None
            if message[0] == "progress":
                progress(*message[1:])
            else:
                outcome = message
    finally:
        if child.is_alive():
            child.terminate()
        await asyncio.to_thread(child.join, 10)
        receiver.close()
    kind, detail = outcome
    if kind == "error":
        raise EarshotError(detail)
    if kind == "damaged":
        raise DatabaseDamagedError(settings.database_url or settings.database_path, detail)
    if kind == "crash":
        raise RuntimeError(f"the rebuild process failed:\n{detail}")
    return Path(detail)
