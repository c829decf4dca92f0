"""The facade that the cogs and the CLI call: ingest, reindex, recommend, stats.

It owns the store, the open index and the executor for blocking work; it knows nothing
about Discord. Every method is a coroutine; CPU-bound and blocking steps run in threads
so the caller's event loop keeps turning.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
import sqlite3
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .audio import ffmpeg_folder, ffmpeg_path
from .audioset import Ontology, find_metadata_dir, find_tfrecords
from .config import Settings
from .download import fetch
from .embedder import PCA_PARAMS_SHA256, PcaParams
from .errors import (
    BusyError,
    CatalogEmptyError,
    EarshotError,
    IndexMissingError,
    ReindexRunningError,
    UnknownVideoError,
)
from .feedback import Community, MemberRatings, Ranked, rerank, steer
from .index import IndexError_, VectorIndex
from .links import parse_video_id, watch_url
from .model_source import model_id
from .rebuild import rebuild_in_child
from .store import Store, Track
from .tfrecord import read_clips_reporting
from .worker import (
    Listened,
    ModelCheck,
    WorkerConfig,
    WorkerPool,
    check_model,
    listen_file,
    listen_video,
    warm_up,
)
from .youtube import FetchOptions, js_runtime

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]


MAX_PENDING_WRITES = 10_000


def _is_locked(error: sqlite3.OperationalError) -> bool:
    text = str(error).lower()
    return "locked" in text or "busy" in text


def _no_progress(stage: str, done: int, total: int) -> None:
    pass


@dataclass(frozen=True)
class IngestReport:
    files: int
    files_skipped: int
    clips_added: int
    non_music: int
    problems: dict[str, list[str]]


@dataclass(frozen=True)
class Recommendation:
    track_id: int
    video_id: str
    start_s: float
    url: str
    labels: list[str]
    score: float
    sound_similarity: float
    match: float  # cosine of query and item vectors, 0..1: how close, for people
    reasons: list[str] = field(default_factory=list)  # why it is here, in a few words


@dataclass(frozen=True)
class Query:
    video_id: str
    url: str
    source: str  # "catalog", "cache", "download" or "file"
    labels: list[str] = field(default_factory=list)  # known labels, if a catalog clip
    tags: list[str] = field(default_factory=list)  # what the tagger hears
    title: str = ""
    channel: str = ""


@dataclass(frozen=True)
class TasteProfile:
    liked: int
    disliked: int
    top_tags: list[str]
    avoided_tags: list[str]


@dataclass(frozen=True)
class RecommendResult:
    query: Query
    items: list[Recommendation]


class Engine:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.index: VectorIndex | None = None
        self._names: dict[int, str] = {}
        self._reindex_lock = asyncio.Lock()
        self.reindex_progress: tuple[str, int, int] | None = None
        self._pool: WorkerPool | None = None
        self._model_version: str | None = None
        self._inflight: dict[str, asyncio.Future[Listened]] = {}
        self._slots = asyncio.Semaphore(settings.max_concurrent_requests)
        self._waiting = 0
        self._pending_writes: deque[tuple[Callable[..., Awaitable[Any]], tuple]] = deque()
        self._flusher: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, settings: Settings) -> Engine:
        store = await Store.open(settings.database_path, settings.db_busy_timeout_s)
        engine = cls(settings, store)
        try:
            try:
                engine.index = await asyncio.to_thread(VectorIndex.open_current, settings.index_dir)
            except IndexError_ as exc:  # e.g. built by an older earshot: rebuild, not crash
                log.warning("%s; serving without an index until it is rebuilt (reindex)", exc)
            engine._names = await store.class_names()
        except BaseException:
            await store.close()  # its thread would otherwise keep the process alive
            raise
        return engine

    async def close(self) -> None:
        if self._flusher is not None and not self._flusher.done():
            try:  # a last chance for queued ratings before the connection closes
                await asyncio.wait_for(asyncio.shield(self._flusher), 15)
            except TimeoutError:
                log.error(
                    "%d queued writes could not be saved: the database stayed locked",
                    len(self._pending_writes),
                )
                self._flusher.cancel()
        if self._pool is not None:
            self._pool.shutdown()
        if self.index is not None:
            self.index.close()
        await self.store.close()

    # --- ingest --------------------------------------------------------------------

    async def ingest(
        self, audioset_dir: Path, meta_dir: Path | None = None, progress: Progress = _no_progress
    ) -> IngestReport:
        """Store the music clips of every .tfrecord under ``audioset_dir``.

        Each file goes in with one transaction and is then marked done, so a rerun or a
        resumed run skips what is in and never duplicates a clip.
        """
        meta_dir = meta_dir or find_metadata_dir(audioset_dir)
        if meta_dir is None:
            raise EarshotError(
                f"No class_labels_indices.csv and ontology.json at or above {audioset_dir}; "
                "pass --meta DIR"
            )
        ontology = await asyncio.to_thread(Ontology.load, meta_dir)
        files = await asyncio.to_thread(find_tfrecords, audioset_dir)
        if not files:
            raise EarshotError(f"No .tfrecord files under {audioset_dir}")
        await self.store.save_classes(ontology)
        self._names = await self.store.class_names()
        added = skipped_files = non_music = 0
        problems: dict[str, list[str]] = {}
        for done, path in enumerate(files, 1):
            name = f"{path.parent.name}/{path.name}"  # split/file, whatever folder was given
            size = path.stat().st_size
            if await self.store.ingested_size(name) == size:
                skipped_files += 1
                progress("ingest", done, len(files))
                continue
            clips, file_problems = await asyncio.to_thread(read_clips_reporting, path)
            music = [c for c in clips if ontology.is_music(c.labels)]
            if file_problems:
                problems[name] = file_problems
                for problem in file_problems:
                    log.warning("%s: %s", name, problem)
            added += await self.store.add_file(
                name, size, music, path.parent.name, len(clips) - len(music), file_problems
            )
            non_music += len(clips) - len(music)
            progress("ingest", done, len(files))
        return IngestReport(len(files), skipped_files, added, non_music, problems)

    # --- index ---------------------------------------------------------------------

    async def reindex(self, progress: Progress = _no_progress) -> dict:
        """Train the tagger, build a new index beside the live one and swap it in."""
        if self._reindex_lock.locked():
            stage, done, total = self.reindex_progress or ("starting", 0, 0)
            raise ReindexRunningError(f"A reindex is already running ({stage}: {done}/{total}).")
        async with self._reindex_lock:
            try:
                return await self._reindex(progress)
            finally:
                self.reindex_progress = None

    async def _reindex(self, progress: Progress) -> dict:
        if await self.store.count_tracks() == 0:
            raise CatalogEmptyError()
        started = time.perf_counter()
        context = multiprocessing.get_context("spawn")
        receiver, sender = context.Pipe(duplex=False)
        child = context.Process(
            target=rebuild_in_child,
            name="earshot-reindex",
            daemon=True,
            args=(
                sender,
                self.settings.database_path.resolve(),
                self.settings.index_dir.resolve(),
                self.settings.index_trees,
                self.settings.tagger_steps,
            ),
        )
        child.start()
        sender.close()
        outcome: tuple | None = None
        try:
            while outcome is None:
                if receiver.poll():
                    try:
                        message = receiver.recv()
                    except EOFError:  # the child is gone without a word
                        await asyncio.to_thread(child.join, 10)
                        raise EarshotError(
                            f"The rebuild process stopped unexpectedly (exit code "
                            f"{child.exitcode}); the old index keeps serving."
                        ) from None
                    if message[0] == "progress":
                        self.reindex_progress = message[1:]
                        progress(*message[1:])
                    else:
                        outcome = message
                    continue
                await asyncio.sleep(0.1)
        finally:
            if child.is_alive():
                child.terminate()
            await asyncio.to_thread(child.join, 10)
            receiver.close()
        kind, detail = outcome
        if kind == "error":
            raise EarshotError(detail)
        if kind == "crash":
            raise RuntimeError(f"the rebuild process failed:\n{detail}")
        await self._swap_index(Path(detail))
        assert self.index is not None
        log.info("index rebuilt: %s items in %.1fs", len(self.index), time.perf_counter() - started)
        return dict(self.index.meta)

    async def _swap_index(self, path: Path) -> None:
        new = await asyncio.to_thread(VectorIndex, path)
        old, self.index = self.index, new
        if old is not None:
            old.close()

    # --- recommend -----------------------------------------------------------------

    def _require_index(self) -> VectorIndex:
        if self.index is None:
            raise IndexMissingError()
        return self.index

    async def recommend(
        self,
        text: str,
        count: int = 5,
        *,
        listen: bool = True,
        member: int | None = None,
        guild: int | None = None,
    ) -> RecommendResult:
        """Suggestions for a YouTube link or id, for ``member`` in ``guild`` if given.

        A catalog clip is used as it is; any other video comes from the embedding cache
        or, with ``listen``, is fetched and embedded (one computation per video at a time).
        """
        video_id = parse_video_id(text)
        index = self._require_index()
        tracks = [t for t in await self.store.tracks_by_video(video_id) if t.source != "member"]
        if tracks:
            frames = np.concatenate([t.frames for t in tracks])  # type: ignore[misc]
            labels = sorted({label for t in tracks for label in t.labels})
            query = Query(
                video_id,
                watch_url(video_id, tracks[0].start_s),
                "catalog",
                labels=self._label_names(labels),
                tags=self._label_names(index.space.top_tags(frames)),
            )
        else:
            if len(index) == 0:
                raise CatalogEmptyError()
            listened, source = await self.listen(video_id, fetch_new=listen)
            frames, labels = listened.frames, []
            query = Query(
                video_id,
                watch_url(video_id),
                source,
                tags=self._label_names(index.space.top_tags(frames)),
                title=listened.title,
                channel=listened.channel,
            )
        items = await self._neighbours(index, frames, labels, video_id, count, member, guild)
        return RecommendResult(query, items)

    async def recommend_file(self, path: Path, count: int = 5) -> RecommendResult:
        """Suggestions for a local audio file (operators trying earshot out)."""
        index = self._require_index()
        if not path.is_file():
            raise EarshotError(f"{path} is not a file")
        listened = await self._run_listening(listen_file, path.resolve())
        query = Query(
            path.name,
            path.resolve().as_uri(),
            "file",
            title=listened.title,
            tags=self._label_names(index.space.top_tags(listened.frames)),
        )
        items = await self._neighbours(index, listened.frames, [], "", count)
        return RecommendResult(query, items)

    # --- listening -----------------------------------------------------------------

    async def model_version(self) -> str:
        """The model + postprocessing version that keys the embedding cache."""
        if self._model_version is None:
            pca = await self.ensure_pca_params()
            params = await asyncio.to_thread(PcaParams, pca)
            self._model_version = f"{model_id(self.settings.vggish_model)}|pca:{params.digest}"
        return self._model_version

    async def ensure_pca_params(self) -> Path:
        path = self.settings.pca_params_path
        if not path.exists():
            log.info("fetching the VGGish PCA parameters from %s", self.settings.pca_params_url)
            await asyncio.to_thread(
                fetch, self.settings.pca_params_url, path, sha256=PCA_PARAMS_SHA256
            )
        return path

    def _worker_config(self, pca: Path) -> WorkerConfig:
        s = self.settings
        media_base = s.test_media_base if s.allow_test_hosts else None
        ffmpeg = ffmpeg_path(s.ffmpeg_binary)
        return WorkerConfig(
            model=s.vggish_model,
            pca_params=pca.resolve(),
            data_dir=s.data_dir.resolve(),
            fetch=FetchOptions(
                ffmpeg=ffmpeg,
                ffmpeg_location=str(ffmpeg_folder(ffmpeg, s.data_dir.resolve() / "bin")),
                max_video_seconds=s.max_video_seconds,
                section_seconds=s.section_seconds,
                section_count=s.section_count,
                max_bytes=s.download_max_bytes,
                cookies_file=str(s.ytdlp_cookies) if s.ytdlp_cookies else None,
                proxy=s.ytdlp_proxy,
                test_media_base=media_base,
                js_runtime=js_runtime(s.ytdlp_js_runtime),
            ),
        )

    async def _workers(self) -> WorkerPool:
        if self._pool is None:
            pca = await self.ensure_pca_params()
            config = self._worker_config(pca)
            self._pool = WorkerPool(
                config, self.settings.max_concurrent_requests, self.settings.listen_idle_s
            )
        return self._pool

    async def warm_up(self) -> str:
        """Load the model in a worker ahead of the first request; returns its version."""
        pool = await self._workers()
        return await pool.run(warm_up, timeout_s=max(self.settings.request_timeout_s, 300))

    async def check_model(self) -> ModelCheck:
        """Load the model in a listening worker and embed a second of audio."""
        pool = await self._workers()
        return await pool.run(check_model, timeout_s=max(self.settings.request_timeout_s, 300))

    def fetch_options(self) -> FetchOptions:
        """How listening workers call yt-dlp and ffmpeg."""
        return self._worker_config(self.settings.pca_params_path).fetch

    async def listen(self, video_id: str, *, fetch_new: bool = True) -> tuple[Listened, str]:
        """The frames of a video: from the cache, or fetched once however many ask."""
        version = await self.model_version()
        cached = await self.store.cached_embedding(video_id, version)
        if cached is not None:
            frames, meta = cached
            listened = Listened(frames, meta["title"], meta["channel"], meta["duration_s"], version)
            return listened, "cache"
        if not fetch_new:
            raise UnknownVideoError(video_id)
        pending = self._inflight.get(video_id)
        if pending is None:
            pending = asyncio.ensure_future(self._listen_new(video_id, version))
            self._inflight[video_id] = pending
            pending.add_done_callback(lambda _: self._inflight.pop(video_id, None))
        return await asyncio.shield(pending), "download"

    async def _listen_new(self, video_id: str, version: str) -> Listened:
        listened = await self._run_listening(listen_video, video_id)
        if listened.model_version != version:
            raise EarshotError(
                f"the worker runs model {listened.model_version}, expected {version}"
            )
        await self._write_behind(
            self.store.cache_embedding,
            video_id,
            version,
            listened.frames,
            listened.title,
            listened.channel,
            listened.duration_s,
        )
        return listened

    async def _run_listening(self, function: Callable[..., Listened], *args: object) -> Listened:
        """One job in a worker, under the concurrency limit and the time limit."""
        limit = self.settings.max_concurrent_requests
        if self._slots.locked() and self._waiting >= limit * 4:
            raise BusyError(
                f"earshot is listening to {limit} songs with {self._waiting} more waiting; "
                "try again in a minute."
            )
        pool = await self._workers()
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        try:
            return await pool.run(function, *args, timeout_s=self.settings.request_timeout_s)
        finally:
            self._slots.release()

    async def _neighbours(
        self,
        index: VectorIndex,
        frames: np.ndarray,
        known_labels: list[int],
        video_id: str,
        count: int,
        member: int | None = None,
        guild: int | None = None,
    ) -> list[Recommendation]:
        """The audio neighbours, re-ranked for the member and the server (if given)."""
        vector = await asyncio.to_thread(index.space.query_vector, frames, known_labels)
        ratings = (
            MemberRatings.from_rows(await self.store.ratings_of(member))
            if member is not None
            else MemberRatings()
        )
        # Both touch memory-mapped vectors (page faults on a cold catalog): off the loop.
        steered = await asyncio.to_thread(steer, index, vector, ratings)
        query_tags = set(self._label_names(known_labels)) | set(
            self._label_names(index.space.top_tags(frames))
        )
        want = count * 3 + 10 + len(ratings.disliked())
        while True:
            hits = await asyncio.to_thread(
                index.search,
                steered,
                want,
                overfetch=self.settings.index_overfetch,
                search_k=self.settings.index_search_k or -1,
                max_groups=self.settings.index_max_groups,
            )
            tracks = await self.store.tracks_by_ids([h.track_id for h in hits])
            community = Community()
            if member is not None:
                community = await self.store.community(guild, member, list(tracks), ratings.liked())
            videos = {t: track.video_id for t, track in tracks.items()}
            by_video = await self.store.channels(
                [tr.video_id for tr in tracks.values() if tr.source == "member"]
            )
            ranked = await asyncio.to_thread(
                functools.partial(
                    rerank,
                    index,
                    steered,
                    hits,
                    ratings,
                    community,
                    videos=videos,
                    channels={t: by_video[v] for t, v in videos.items() if v in by_video},
                    exclude_video=video_id,
                    count=count,
                )
            )
            if len(ranked) == count or len(hits) < want or want >= len(index):
                return [
                    self._recommendation(index, vector, r, tracks[r.hit.track_id], query_tags)
                    for r in ranked
                ]
            want *= 4

    def _recommendation(
        self,
        index: VectorIndex,
        query: np.ndarray,
        ranked: Ranked,
        track: Track,
        query_tags: set[str],
    ) -> Recommendation:
        hit = ranked.hit
        weight_sq = index.space.audio_weight**2 or 1.0
        item = np.asarray(index.vectors[hit.position])
        sound = float(item[:128] @ query[:128]) / weight_sq
        denominator = float(np.linalg.norm(item) * np.linalg.norm(query)) or 1.0
        labels = self._label_names(track.labels)
        shared = [name for name in labels if name in query_tags and name != "Music"]
        reasons = [", ".join(shared[:3]).lower()] if shared else []
        if sound >= 0.5:
            reasons.append("sounds alike")
        reasons.extend(ranked.reasons)
        return Recommendation(
            track.id,
            track.video_id,
            track.start_s,
            watch_url(track.video_id, track.start_s),
            self._label_names(track.labels),
            round(hit.score, 4),
            round(sound, 4),
            round(max(0.0, hit.score / denominator), 4),
            reasons,
        )

    def _label_names(self, labels: list[int] | tuple[int, ...]) -> list[str]:
        return [self._names[i] for i in labels if i in self._names]

    # --- replies and ratings -------------------------------------------------------

    async def record_reply(
        self,
        message_id: int,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        result: RecommendResult,
    ) -> None:
        items = [(item.track_id, item.video_id) for item in result.items]
        await self._write_behind(
            self.store.record_reply,
            message_id,
            guild_id,
            channel_id,
            user_id,
            result.query.video_id,
            items,
        )

    async def react(self, user_id: int, message_id: int, reaction: str, present: bool) -> bool:
        """A member's reaction on a reply, added or removed. ``reaction`` is '1'..'10' (like
        that suggestion) or 'down' (the rest missed). False if not an earshot reply.

        If the database is locked by another process for longer than the busy timeout,
        the change waits in order in memory and is written as soon as the lock goes."""
        return await self._write_behind(
            self.store.set_reaction, user_id, message_id, reaction, present
        )

    async def _write_behind(self, write: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        if not self._pending_writes:
            try:
                return await write(*args)
            except sqlite3.OperationalError as exc:
                if not _is_locked(exc):
                    raise
                log.warning("the database is locked; queueing a write until it is free")
        if len(self._pending_writes) >= MAX_PENDING_WRITES:
            raise BusyError("The database is busy; try again in a minute.")
        self._pending_writes.append((write, args))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_writes())
        return True

    async def _flush_writes(self) -> None:
        delay = 0.5
        while self._pending_writes:
            write, args = self._pending_writes[0]
            try:
                await write(*args)
            except sqlite3.OperationalError as exc:
                if not _is_locked(exc):
                    log.exception("dropping a queued write that cannot succeed")
                    self._pending_writes.popleft()
                    continue
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            self._pending_writes.popleft()
            delay = 0.5
        log.info("queued writes are all in the database")

    @property
    def pending_writes(self) -> int:
        return len(self._pending_writes)

    async def forget_member(self, user_id: int) -> int:
        """Delete a member's ratings completely (they asked)."""
        return await self.store.forget_member(user_id)

    async def taste(self, user_id: int) -> TasteProfile:
        """Counts and the labels most common in what a member liked and skipped."""
        rows = await self.store.ratings_of(user_id)
        liked = [t for t, _, v in rows if v > 0]
        skipped = [t for t, _, v in rows if v < 0]
        tracks = await self.store.tracks_by_ids(liked + skipped)

        def top(ids: list[int]) -> list[str]:
            counts: dict[str, int] = {}
            for track_id in ids:
                track = tracks.get(track_id)
                for name in self._label_names(track.labels if track else ()):
                    if name != "Music":
                        counts[name] = counts.get(name, 0) + 1
            return [n for n, _ in sorted(counts.items(), key=lambda kv: -kv[1])[:6]]

        return TasteProfile(len(liked), len(skipped), top(liked), top(skipped))

    # --- stats ---------------------------------------------------------------------

    async def stats(self) -> dict:
        index = self.index
        return {
            "tracks": await self.store.count_tracks(),
            "member_tracks": await self.store.count_tracks("member"),
            "indexed": len(index) if index else 0,
            "cached_embeddings": await self.store.count_embeddings(),
            "ratings": await self.store.count_ratings(),
            "ingest": await self.store.ingest_summary(),
            "index": dict(index.meta) if index else None,
            "schema_version": await self.store.schema_version(),
        }
