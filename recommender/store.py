"""SQLite storage: the catalog, the embedding cache and ratings, with forward migrations.

WAL mode so readers never block the writer; every multi-row change in one transaction;
the schema version lives in ``PRAGMA user_version`` and is migrated forward on open.
Writes that must not be lost while another process holds the database locked (ratings,
replies, members' songs) go through ``write_behind``: queued in order in memory and
written as soon as the lock goes.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite
import numpy as np

from .audioset import Ontology
from .errors import BusyError
from .ratings import Community, Reply, rating_from_reactions
from .tfrecord import EMBEDDING_SIZE, ClipRecord
from .video_facts import Status, VideoFacts

# Each entry moves the schema from version i to i + 1. Never edit a released entry: append.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE tracks (
        id        INTEGER PRIMARY KEY,
        video_id  TEXT NOT NULL,
        start_s   REAL NOT NULL,
        end_s     REAL NOT NULL,
        labels    TEXT NOT NULL DEFAULT '',   -- AudioSet class indices, space-separated
        frames    BLOB NOT NULL,              -- n x 128 uint8 PCA'd, quantized VGGish frames
        source    TEXT NOT NULL,              -- AudioSet split, or 'member' for asked-about songs
        UNIQUE (video_id, start_s)
    );
    CREATE TABLE ingested_files (
        name      TEXT PRIMARY KEY,           -- split/file.tfrecord
        size      INTEGER NOT NULL,
        clips     INTEGER NOT NULL,           -- music clips stored from it
        skipped   INTEGER NOT NULL,           -- non-music clips
        problems  TEXT NOT NULL DEFAULT '',
        at        REAL NOT NULL
    );
    CREATE TABLE classes (
        idx       INTEGER PRIMARY KEY,
        mid       TEXT NOT NULL,
        name      TEXT NOT NULL,
        kind      TEXT NOT NULL
    );
    CREATE TABLE embeddings (
        video_id   TEXT NOT NULL,
        model      TEXT NOT NULL,             -- model + postprocessing version
        frames     BLOB NOT NULL,
        title      TEXT NOT NULL DEFAULT '',
        channel    TEXT NOT NULL DEFAULT '',
        duration_s REAL,
        created_at REAL NOT NULL,
        PRIMARY KEY (video_id, model)
    );
    """,
    """
    CREATE TABLE replies (
        message_id  INTEGER PRIMARY KEY,       -- the bot's reply that members rate
        guild_id    INTEGER,
        channel_id  INTEGER NOT NULL,
        user_id     INTEGER NOT NULL,          -- who asked
        query_video TEXT NOT NULL,
        created_at  REAL NOT NULL
    );
    CREATE TABLE reply_items (
        message_id  INTEGER NOT NULL REFERENCES replies (message_id) ON DELETE CASCADE,
        position    INTEGER NOT NULL,          -- 1-based, as numbered in the reply
        track_id    INTEGER NOT NULL,
        video_id    TEXT NOT NULL,
        PRIMARY KEY (message_id, position)
    );
    CREATE TABLE reactions (
        user_id     INTEGER NOT NULL,
        message_id  INTEGER NOT NULL REFERENCES replies (message_id) ON DELETE CASCADE,
        reaction    TEXT NOT NULL,             -- '1'..'10' or 'down'
        created_at  REAL NOT NULL,
        PRIMARY KEY (user_id, message_id, reaction)
    );
    CREATE TABLE ratings (
        user_id     INTEGER NOT NULL,
        guild_id    INTEGER,
        message_id  INTEGER NOT NULL REFERENCES replies (message_id) ON DELETE CASCADE,
        position    INTEGER NOT NULL,
        track_id    INTEGER NOT NULL,
        video_id    TEXT NOT NULL,
        value       INTEGER NOT NULL,          -- +1 liked, -1 disliked
        created_at  REAL NOT NULL,
        PRIMARY KEY (user_id, message_id, position)
    );
    CREATE INDEX ratings_user ON ratings (user_id, value);
    CREATE INDEX ratings_guild ON ratings (guild_id, track_id)
    """,
    """
    CREATE TABLE video_facts (
        video_id    TEXT PRIMARY KEY,
        status      TEXT NOT NULL,             -- live, restricted (401) or gone (404)
        title       TEXT NOT NULL DEFAULT '',
        channel     TEXT NOT NULL DEFAULT '',
        checked_at  REAL NOT NULL
    );
    CREATE INDEX video_facts_checked ON video_facts (checked_at)
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(RuntimeError):
    """The database cannot be used as it is."""


@dataclass(frozen=True, slots=True)
class Track:
    id: int
    video_id: str
    start_s: float
    end_s: float
    labels: tuple[int, ...]
    source: str
    frames: np.ndarray | None = None


def _labels_text(labels: Iterable[int]) -> str:
    return " ".join(str(x) for x in labels)


def _labels_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split())


def frames_from_blob(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.uint8).reshape(-1, EMBEDDING_SIZE)


def _track(row: Sequence, with_frames: bool) -> Track:
    frames = frames_from_blob(row[6]) if with_frames else None
    return Track(row[0], row[1], row[2], row[3], _labels_tuple(row[4]), row[5], frames)


_TRACKS_AFTER = (
    "SELECT id, video_id, start_s, end_s, labels, source, frames FROM tracks"
    " WHERE id > ? AND id <= ? ORDER BY id LIMIT ?"
)


def read_tracks(db: sqlite3.Connection, up_to_id: int, chunk: int = 5000) -> Iterator[list[Track]]:
    """iter_tracks for a plain sqlite3 connection (the rebuild process), up to an id."""
    last = -1
    while True:
        rows = db.execute(_TRACKS_AFTER, (last, up_to_id, chunk)).fetchall()
        if not rows:
            return
        yield [_track(r, with_frames=True) for r in rows]
        last = rows[-1][0]


log = logging.getLogger(__name__)

MAX_PENDING_WRITES = 10_000  # queued while locked; past this, callers are told "busy"
FLUSH_ON_CLOSE_S = 15.0  # how long close() waits for queued writes


def is_locked(error: sqlite3.OperationalError) -> bool:
    text = str(error).lower()
    return "locked" in text or "busy" in text


class Store:
    """One connection to the earshot database. Use ``await Store.open(path)``."""

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self.db = db
        self.path = path
        self._write_lock = asyncio.Lock()
        self._pending: deque[tuple[Callable[..., Awaitable[Any]], tuple]] = deque()
        self._flusher: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, path: Path, busy_timeout_s: float = 5.0) -> Store:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path, timeout=busy_timeout_s, isolation_level=None)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute("PRAGMA foreign_keys=ON")
            store = cls(db, path)
            await store._migrate()
        except BaseException:
            await db.close()
            raise
        return store

    async def close(self) -> None:
        if self._flusher is not None and not self._flusher.done():
            try:  # a last chance for queued writes before the connection closes
                await asyncio.wait_for(asyncio.shield(self._flusher), FLUSH_ON_CLOSE_S)
            except TimeoutError:
                log.error(
                    "%d queued writes could not be saved: the database stayed locked",
                    len(self._pending),
                )
                self._flusher.cancel()
        await self.db.close()

    # --- writes that wait out another process's lock ---------------------------------

    async def write_behind(self, write: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """``await write(*args)`` now if it can be; if another process holds the database
        locked past the busy timeout, queue it (in order, behind any queued before) and
        write it as soon as the lock goes. Returns what the write returned, or True when
        queued."""
        if not self._pending:
            try:
                return await write(*args)
            except sqlite3.OperationalError as exc:
                if not is_locked(exc):
                    raise
                log.warning("the database is locked; queueing a write until it is free")
        if len(self._pending) >= MAX_PENDING_WRITES:
            raise BusyError("The database is busy; try again in a minute.")
        self._pending.append((write, args))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return True

    async def _flush(self) -> None:
        delay = 0.5
        while self._pending:
            write, args = self._pending[0]
            try:
                await write(*args)
            except sqlite3.OperationalError as exc:
                if not is_locked(exc):
                    log.exception("dropping a queued write that cannot succeed")
                    self._pending.popleft()
                    continue
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            self._pending.popleft()
            delay = 0.5
        log.info("queued writes are all in the database")

    @property
    def pending_writes(self) -> int:
        return len(self._pending)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """One write transaction at a time on this connection: tasks that share it would
        otherwise start a transaction inside another's."""
        async with self._write_lock:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise
            await self.db.execute("COMMIT")

    async def _migrate(self) -> None:
        (version,) = await self._one("PRAGMA user_version")
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {version}, newer than this earshot "
                f"understands ({SCHEMA_VERSION}); upgrade earshot"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                for statement in MIGRATIONS[target - 1].split(";"):
                    if statement.strip():
                        await self.db.execute(statement)
                await self.db.execute(f"PRAGMA user_version={target}")
                await self.db.execute("COMMIT")
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise

    async def _one(self, sql: str, params: Sequence = ()) -> tuple:
        async with self.db.execute(sql, params) as cursor:
            row = await cursor.fetchone()
        return tuple(row) if row is not None else ()

    async def _all(self, sql: str, params: Sequence = ()) -> list[tuple]:
        async with self.db.execute(sql, params) as cursor:
            return [tuple(r) for r in await cursor.fetchall()]

    async def schema_version(self) -> int:
        return (await self._one("PRAGMA user_version"))[0]

    # --- classes -------------------------------------------------------------------

    async def save_classes(self, ontology: Ontology) -> None:
        async with self.transaction():
            await self.db.executemany(
                "INSERT OR REPLACE INTO classes (idx, mid, name, kind) VALUES (?, ?, ?, ?)",
                [(c.index, c.mid, c.name, str(c.kind)) for c in ontology.classes],
            )

    async def class_names(self) -> dict[int, str]:
        return {idx: name for idx, name in await self._all("SELECT idx, name FROM classes")}

    async def class_kinds(self) -> dict[int, str]:
        return {idx: kind for idx, kind in await self._all("SELECT idx, kind FROM classes")}

    # --- catalog ingest ------------------------------------------------------------

    async def ingested_size(self, name: str) -> int | None:
        row = await self._one("SELECT size FROM ingested_files WHERE name = ?", (name,))
        return row[0] if row else None

    async def add_file(
        self,
        name: str,
        size: int,
        clips: Sequence[ClipRecord],
        source: str,
        skipped: int,
        problems: Sequence[str] = (),
    ) -> int:
        """Store one file's music clips and mark the file done, in one transaction.

        A clip already present (same video and start) is left as it is, so re-running an
        ingest, or resuming one that was killed, never duplicates a clip.
        """
        async with self.transaction():
            before = self.db.total_changes
            await self.db.executemany(
                "INSERT OR IGNORE INTO tracks (video_id, start_s, end_s, labels, frames, source)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        c.video_id,
                        c.start_s,
                        c.end_s,
                        _labels_text(c.labels),
                        np.ascontiguousarray(c.frames, dtype=np.uint8).tobytes(),
                        source,
                    )
                    for c in clips
                ],
            )
            added = self.db.total_changes - before
            await self.db.execute(
                "INSERT OR REPLACE INTO ingested_files (name, size, clips, skipped, problems, at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (name, size, len(clips), skipped, "\n".join(problems), time.time()),
            )
        return added

    async def add_member_track(
        self, video_id: str, frames: np.ndarray, duration_s: float | None
    ) -> None:
        """A song a member asked about joins the catalog (indexed at the next reindex).

        Its frames follow the embedding cache: a newer model's frames replace older ones.
        """
        await self.db.execute(
            "INSERT INTO tracks (video_id, start_s, end_s, labels, frames, source)"
            " VALUES (?, 0, ?, '', ?, 'member')"
            " ON CONFLICT (video_id, start_s) DO UPDATE"
            " SET frames = excluded.frames, end_s = excluded.end_s"
            " WHERE tracks.source = 'member'",
            (
                video_id,
                float(duration_s or len(frames)),
                np.ascontiguousarray(frames, dtype=np.uint8).tobytes(),
            ),
        )

    # --- catalog reads -------------------------------------------------------------

    async def count_tracks(self, source: str | None = None) -> int:
        if source is None:
            return (await self._one("SELECT COUNT(*) FROM tracks"))[0]
        return (await self._one("SELECT COUNT(*) FROM tracks WHERE source = ?", (source,)))[0]

    async def tracks_by_video(self, video_id: str) -> list[Track]:
        rows = await self._all(
            "SELECT id, video_id, start_s, end_s, labels, source, frames FROM tracks"
            " WHERE video_id = ? ORDER BY start_s",
            (video_id,),
        )
        return [_track(r, with_frames=True) for r in rows]

    async def tracks_by_ids(self, ids: Sequence[int]) -> dict[int, Track]:
        found: dict[int, Track] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = await self._all(
                f"SELECT id, video_id, start_s, end_s, labels, source FROM tracks"
                f" WHERE id IN ({marks})",
                chunk,
            )
            found.update({r[0]: _track(r, with_frames=False) for r in rows})
        return found

    async def iter_tracks(self, chunk: int = 5000) -> AsyncIterator[list[Track]]:
        """Every track with its frames, in id order, a chunk at a time (bounded memory)."""
        last = -1
        while True:
            rows = await self._all(_TRACKS_AFTER, (last, 2**62, chunk))
            if not rows:
                return
            yield [_track(r, with_frames=True) for r in rows]
            last = rows[-1][0]

    # --- embedding cache -----------------------------------------------------------

    async def cached_embedding(self, video_id: str, model: str) -> tuple[np.ndarray, dict] | None:
        row = await self._one(
            "SELECT frames, title, channel, duration_s FROM embeddings"
            " WHERE video_id = ? AND model = ?",
            (video_id, model),
        )
        if not row:
            return None
        meta = {"title": row[1], "channel": row[2], "duration_s": row[3]}
        return frames_from_blob(row[0]), meta

    async def cache_song_and_add_to_catalog(
        self,
        video_id: str,
        model: str,
        frames: np.ndarray,
        title: str,
        channel: str,
        duration_s: float | None,
    ) -> None:
        async with self.transaction():
            await self.db.execute(
                "INSERT OR REPLACE INTO embeddings"
                " (video_id, model, frames, title, channel, duration_s, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    video_id,
                    model,
                    np.ascontiguousarray(frames, dtype=np.uint8).tobytes(),
                    title,
                    channel,
                    duration_s,
                    time.time(),
                ),
            )
            await self.add_member_track(video_id, frames, duration_s)

    async def channels(self, video_ids: Sequence[str]) -> dict[str, str]:
        """Channel names of cached videos (AudioSet clips have none)."""
        if not video_ids:
            return {}
        marks = ",".join("?" * len(video_ids))
        rows = await self._all(
            f"SELECT video_id, channel FROM embeddings WHERE video_id IN ({marks})"
            " AND channel != ''",
            list(video_ids),
        )
        return dict(rows)

    # --- what YouTube says of the videos (oEmbed) -------------------------------------

    async def save_facts(self, facts: Iterable[VideoFacts]) -> None:
        rows = [(f.video_id, str(f.status), f.title, f.channel, f.checked_at) for f in facts]
        if not rows:
            return
        async with self.transaction():
            await self.db.executemany(
                "INSERT OR REPLACE INTO video_facts (video_id, status, title, channel, checked_at)"
                " VALUES (?, ?, ?, ?, ?)",
                rows,
            )

    async def facts_of(self, video_ids: Sequence[str]) -> dict[str, VideoFacts]:
        found: dict[str, VideoFacts] = {}
        unique = list(dict.fromkeys(video_ids))
        for first in range(0, len(unique), 500):
            part = unique[first : first + 500]
            marks = ",".join("?" * len(part))
            for video, status, title, channel, at in await self._all(
                "SELECT video_id, status, title, channel, checked_at FROM video_facts"
                f" WHERE video_id IN ({marks})",
                part,
            ):
                found[video] = VideoFacts(video, Status(status), title, channel, at)
        return found

    async def videos_never_checked(self, after: str, limit: int) -> list[str]:
        """Catalog videos with no facts yet, in id order after ``after`` (a keyset cursor:
        each batch of a sweep starts where the last ended, on the tracks index)."""
        rows = await self._all(
            "SELECT DISTINCT t.video_id FROM tracks t WHERE t.video_id > ?"
            " AND NOT EXISTS (SELECT 1 FROM video_facts f WHERE f.video_id = t.video_id)"
            " ORDER BY t.video_id LIMIT ?",
            (after, limit),
        )
        return [v for (v,) in rows]

    async def videos_checked_before(self, stale_before: float, limit: int) -> list[str]:
        """Videos whose facts are older than ``stale_before``, oldest first."""
        rows = await self._all(
            "SELECT video_id FROM video_facts WHERE checked_at < ? ORDER BY checked_at LIMIT ?",
            (stale_before, limit),
        )
        return [v for (v,) in rows]

    async def count_to_verify(self, stale_before: float) -> int:
        never = await self._one(
            "SELECT COUNT(DISTINCT t.video_id) FROM tracks t LEFT JOIN video_facts f"
            " ON f.video_id = t.video_id WHERE f.video_id IS NULL"
        )
        stale = await self._one(
            "SELECT COUNT(*) FROM video_facts WHERE checked_at < ?", (stale_before,)
        )
        return never[0] + stale[0]

    async def verification_counts(self) -> dict[str, int]:
        """Catalog videos by what YouTube last said of them ("unchecked" for the rest)."""
        rows = await self._all(
            "SELECT COALESCE(f.status, 'unchecked'), COUNT(*) FROM"
            " (SELECT DISTINCT video_id FROM tracks) t"
            " LEFT JOIN video_facts f ON f.video_id = t.video_id GROUP BY 1"
        )
        counts = {"live": 0, "restricted": 0, "gone": 0, "unchecked": 0}
        counts.update(dict(rows))
        return counts

    async def count_embeddings(self) -> int:
        return (await self._one("SELECT COUNT(*) FROM embeddings"))[0]

    # --- replies and ratings -------------------------------------------------------

    async def record_reply(self, reply: Reply) -> None:
        """Which suggestion stands at which position of a reply, for later reactions."""
        r = reply
        async with self.transaction():
            await self.db.execute(
                "INSERT OR REPLACE INTO replies"
                " (message_id, guild_id, channel_id, user_id, query_video, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (r.message_id, r.guild_id, r.channel_id, r.user_id, r.query_video, time.time()),
            )
            await self.db.executemany(
                "INSERT OR REPLACE INTO reply_items (message_id, position, track_id, video_id)"
                " VALUES (?, ?, ?, ?)",
                [(r.message_id, n, track, video) for n, (track, video) in enumerate(r.items, 1)],
            )

    async def set_reaction(
        self, user_id: int, message_id: int, reaction: str, present: bool
    ) -> bool:
        """Record a reaction added or removed and re-derive that member's ratings of the
        reply, in one transaction. False if the message is not an earshot reply."""
        async with self.transaction():
            reply = await self._one(
                "SELECT guild_id FROM replies WHERE message_id = ?", (message_id,)
            )
            if not reply:
                return False
            if present:
                await self.db.execute(
                    "INSERT OR IGNORE INTO reactions (user_id, message_id, reaction, created_at)"
                    " VALUES (?, ?, ?, ?)",
                    (user_id, message_id, reaction, time.time()),
                )
            else:
                await self.db.execute(
                    "DELETE FROM reactions WHERE user_id = ? AND message_id = ? AND reaction = ?",
                    (user_id, message_id, reaction),
                )
            await self._rederive(user_id, message_id, reply[0])
        return True

    async def recent_replies(self, since: float) -> list[tuple[int, int, int | None]]:
        """(message, channel, guild) of the replies posted since ``since``, newest first."""
        return await self._all(
            "SELECT message_id, channel_id, guild_id FROM replies WHERE created_at >= ?"
            " ORDER BY created_at DESC",
            (since,),
        )

    async def replace_reactions(self, message_id: int, by_user: dict[int, set[str]]) -> int:
        """Make the stored reactions on a reply exactly ``by_user`` (what Discord shows
        now), re-deriving the ratings of every member whose reactions changed, in one
        transaction. Returns how many members changed; nothing is counted twice."""
        changed = 0
        async with self.transaction():
            reply = await self._one(
                "SELECT guild_id FROM replies WHERE message_id = ?", (message_id,)
            )
            if not reply:
                return 0
            stored: dict[int, set[str]] = {}
            for user, reaction in await self._all(
                "SELECT user_id, reaction FROM reactions WHERE message_id = ?", (message_id,)
            ):
                stored.setdefault(user, set()).add(reaction)
            for user in set(stored) | set(by_user):
                now_set = by_user.get(user, set())
                if stored.get(user, set()) == now_set:
                    continue
                changed += 1
                await self.db.execute(
                    "DELETE FROM reactions WHERE user_id = ? AND message_id = ?", (user, message_id)
                )
                await self.db.executemany(
                    "INSERT INTO reactions (user_id, message_id, reaction, created_at)"
                    " VALUES (?, ?, ?, ?)",
                    [(user, message_id, r, time.time()) for r in sorted(now_set)],
                )
                await self._rederive(user, message_id, reply[0])
        return changed

    async def _rederive(self, user_id: int, message_id: int, guild_id: int | None) -> None:
        """A member's ratings of one reply, from their reactions on it (in a transaction)."""
        reactions = {
            r
            for (r,) in await self._all(
                "SELECT reaction FROM reactions WHERE user_id = ? AND message_id = ?",
                (user_id, message_id),
            )
        }
        items = await self._all(
            "SELECT position, track_id, video_id FROM reply_items WHERE message_id = ?",
            (message_id,),
        )
        wanted = {
            position: (track, video, value)
            for position, track, video in items
            if (value := rating_from_reactions(position, reactions)) != 0
        }
        current = dict(
            await self._all(
                "SELECT position, value FROM ratings WHERE user_id = ? AND message_id = ?",
                (user_id, message_id),
            )
        )
        for position in set(current) - set(wanted):
            await self.db.execute(
                "DELETE FROM ratings WHERE user_id = ? AND message_id = ? AND position = ?",
                (user_id, message_id, position),
            )
        now = time.time()
        for position, (track, video, value) in wanted.items():
            if current.get(position) == value:
                continue  # unchanged: keeps its original time
            await self.db.execute(
                "INSERT OR REPLACE INTO ratings (user_id, guild_id, message_id, position,"
                " track_id, video_id, value, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (user_id, guild_id, message_id, position, track, video, value, now),
            )

    async def ratings_of(self, user_id: int) -> list[tuple[int, str, int]]:
        """(track id, video id, value) of every rating a member gave, one query."""
        return await self._all(
            "SELECT track_id, video_id, value FROM ratings WHERE user_id = ?", (user_id,)
        )

    async def community(
        self,
        guild_id: int | None,
        user_id: int,
        candidates: Sequence[int],
        liked: Sequence[int],
    ) -> Community:
        """Other members' likes and dislikes of the candidates in this server, and how
        many members liked a candidate together with something this member liked."""
        community = Community()
        if not candidates:
            return community
        marks = ",".join("?" * len(candidates))
        if guild_id is not None:
            rows = await self._all(
                "SELECT track_id, COUNT(DISTINCT CASE WHEN value > 0 THEN user_id END),"
                " COUNT(DISTINCT CASE WHEN value < 0 THEN user_id END) FROM ratings"
                f" WHERE guild_id = ? AND user_id != ? AND track_id IN ({marks})"
                " GROUP BY track_id",
                (guild_id, user_id, *candidates),
            )
            for track, likes, dislikes in rows:
                if likes:
                    community.likes[track] = likes
                if dislikes:
                    community.dislikes[track] = dislikes
        if liked:
            liked_marks = ",".join("?" * len(liked))
            rows = await self._all(
                "SELECT b.track_id, COUNT(DISTINCT b.user_id) FROM ratings a"
                " JOIN ratings b ON b.user_id = a.user_id"
                f" WHERE a.track_id IN ({liked_marks}) AND a.value > 0 AND a.user_id != ?"
                f" AND b.value > 0 AND b.track_id IN ({marks}) GROUP BY b.track_id",
                (*liked, user_id, *candidates),
            )
            community.co_likes.update(dict(rows))
        return community

    async def forget_member(self, user_id: int) -> int:
        """Delete every rating and reaction of a member; returns how many ratings went."""
        async with self.transaction():
            (count,) = await self._one("SELECT COUNT(*) FROM ratings WHERE user_id = ?", (user_id,))
            await self.db.execute("DELETE FROM ratings WHERE user_id = ?", (user_id,))
            await self.db.execute("DELETE FROM reactions WHERE user_id = ?", (user_id,))
        return count

    async def count_ratings(self) -> int:
        return (await self._one("SELECT COUNT(*) FROM ratings"))[0]

    async def ingest_summary(self) -> dict[str, int]:
        row = await self._one(
            "SELECT COUNT(*), COALESCE(SUM(skipped), 0),"
            " COALESCE(SUM(problems != ''), 0) FROM ingested_files"
        )
        return {"files": row[0], "non_music_skipped": row[1], "files_with_problems": row[2]}
