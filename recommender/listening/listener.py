"""Listening to songs outside the catalog: the embedding cache first, else a worker process
fetches, decodes and embeds the song, under a concurrency limit and a time limit.

Two requests for one video share one computation; the result is cached (and the song
joins the catalog at the next reindex) keyed by the model and postprocessing version.
With ``QUEUE_URL`` set, the computation is a job on the Redis queue instead, done by a
``recommender worker`` on any host, which writes the shared cache itself (``jobs``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import numpy as np

from ..audioset.download import fetch
from ..catalog.store import Store
from ..config import Settings
from ..disk import describe_free, is_disk_full
from ..errors import BusyError, DiskFullError, EarshotError, UnknownVideoError
from ..song_keys import SOURCE_NAMES, split_key
from ..sources.links import SongId
from ..sources.pages import song_page
from ..sources.youtube import FetchOptions, js_runtime
from .audio import ffmpeg_folder, ffmpeg_path
from .embedder import PCA_PARAMS_SHA256, PcaParams
from .heard import Heard
from .jobs import ListenQueue, QueueUnavailableError, wait_limit_s
from .member_slots import MemberSlots
from .model_source import model_id
from .pace import ListeningPace, about
from .workers import (
    Listened,
    ListenersStoppedError,
    ModelCheck,
    WorkerConfig,
    WorkerPool,
    check_model,
    listen_file,
    listen_video,
    warm_up,
)

log = logging.getLogger(__name__)

MAX_WAITING_PER_SLOT = 50  # however quick songs are, no more than this waits per slot


def _official(path: Path) -> bool:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest() == PCA_PARAMS_SHA256


class Listener:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self._pool: WorkerPool | None = None
        self._model_version: str | None = None
        self._inflight: dict[str, asyncio.Future[Listened]] = {}
        self._slots = asyncio.Semaphore(settings.max_concurrent_requests)
        self._waiting = 0
        self._running = 0
        self.pace = ListeningPace()
        self._queue: ListenQueue | None = None
        self._queue_lock = asyncio.Lock()
        self.members = MemberSlots()  # one new song at a time per member
        self._slots_shared = False
        self._closed = False

    @property
    def queued(self) -> bool:
        """True when new songs are listened to by queue workers, not in this process."""
        return self.settings.queue_url is not None

    async def queue(self) -> ListenQueue:
        async with self._queue_lock:
            if self._queue is None:
                self._queue = await ListenQueue.connect(self.settings)
            return self._queue

    @property
    def pool(self) -> WorkerPool | None:
        """The worker pool, once a job has needed it (for health figures and tests)."""
        return self._pool

    async def model_version(self) -> str:
        """The model + postprocessing version that keys the embedding cache."""
        if self._model_version is None:
            pca = await self.ensure_pca_params()
            params = await asyncio.to_thread(PcaParams, pca)
            self._model_version = f"{model_id(self.settings.vggish_model)}|pca:{params.digest}"
        return self._model_version

    async def ensure_pca_params(self) -> Path:
        """The PCA parameters, fetched when missing; earshot's own copy (in DATA_DIR) is
        checked against AudioSet's sha256 and fetched again if it is damaged or wrong (an
        operator's VGGISH_PCA_PARAMS is theirs: the doctor says when it differs)."""
        path = self.settings.pca_params_path
        own = self.settings.pca_params is None
        if not path.exists() or (own and not await asyncio.to_thread(_official, path)):
            if path.exists():
                log.warning("%s does not match AudioSet's PCA parameters: fetching again", path)
            else:
                log.info("fetching the VGGish PCA parameters from %s", self.settings.pca_params_url)
            await asyncio.to_thread(
                fetch, self.settings.pca_params_url, path, sha256=PCA_PARAMS_SHA256
            )
        return path

    def fetch_options(self) -> FetchOptions:
        """How listening workers call yt-dlp and ffmpeg."""
        return self._worker_config(self.settings.pca_params_path).fetch

    def _worker_config(self, pca: Path) -> WorkerConfig:
        s = self.settings
        media_base = s.test_media_base if s.allow_test_hosts else None
        ffmpeg = ffmpeg_path(s.ffmpeg_binary)
        return WorkerConfig(
            model=s.vggish_model,
            pca_params=pca.resolve(),
            threads=s.listen_threads,
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
        if self._closed:  # a new pool's workers would outlive the close
            raise ListenersStoppedError()
        if self._pool is None:
            pca = await self.ensure_pca_params()
            self._pool = WorkerPool(
                self._worker_config(pca),
                self.settings.max_concurrent_requests,
                self.settings.listen_idle_s,
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

    @contextlib.asynccontextmanager
    async def fetching(
        self, kind: str, key: str, member: int | None, hold_s: float
    ) -> AsyncIterator[Path]:
        """A temporary folder for a file fetched in this process (a preview, an upload),
        gone with everything in it when the block ends; held under the member's one new
        song at a time. The pid in its name lets a later start clear what a killed
        process left."""
        if member is not None:
            await self._share_slots()
        claim = (
            self.members.claim(member, key, hold_s)
            if member is not None
            else contextlib.nullcontext()
        )
        folder = self.settings.data_dir / "tmp"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            async with claim:
                with tempfile.TemporaryDirectory(
                    prefix=f"{kind}-{os.getpid()}-", dir=folder
                ) as tmp:
                    yield Path(tmp)
        except OSError as exc:  # the file's bytes, or even the folder, found no room
            if is_disk_full(exc):
                raise DiskFullError(describe_free(self.settings.data_dir)) from None
            raise

    async def hear(
        self, video_id: SongId, *, fetch_new: bool, start_s: float | None, member: int | None
    ) -> Heard:
        """A song's frames from wherever earshot has them: the catalog's own clips (with
        their labels), the embedding cache, or (``fetch_new``) fetched and embedded now.
        A moment the member linked to (``start_s``) picks the catalog clip that holds it;
        a moment outside the catalog's clips is listened to from there."""
        clips = [t for t in await self.store.tracks_by_video(video_id) if t.source != "member"]
        if clips and start_s is not None:
            clips = [t for t in clips if t.start_s <= start_s < t.end_s]
        site = split_key(video_id)[0]
        elsewhere = {} if site == "youtube" else {"key": video_id, "url": song_page(video_id)}
        if clips:
            frames = np.concatenate([t.frames for t in clips])  # type: ignore[misc]
            labels = sorted({label for t in clips for label in t.labels})
            heard_from = SOURCE_NAMES[site] if elsewhere else ""
            return Heard(
                frames, "catalog", labels, start_s=clips[0].start_s, heard_from=heard_from,
                **elsewhere,
            )  # fmt: skip
        listened, source = await self.listen(
            video_id, fetch_new=fetch_new, start_s=start_s, member=member
        )
        # The cache keeps one listening per video, from whatever moment came first: only a
        # fresh listening is known to be from the moment asked for.
        moment = (start_s or 0.0) if source == "download" else 0.0
        heard_from = ""
        if elsewhere:
            heard_from = SOURCE_NAMES[site]
            if listened.preview:  # a SoundCloud Go+ track: its site gives 30 s only
                heard_from += f" preview, {round(len(listened.frames) * 0.96)} s"
        return Heard(
            listened.frames, source, [], listened.title, listened.channel, moment,
            heard_from=heard_from, **elsewhere,
        )  # fmt: skip

    async def listen(
        self,
        video_id: SongId,
        *,
        fetch_new: bool = True,
        start_s: float | None = None,
        member: int | None = None,
    ) -> tuple[Listened, str]:
        """The frames of a video: from the cache, or fetched once however many ask. A
        ``member`` has one new song listened to at a time: listening capacity is shared,
        and one member's dozen links must not keep everyone else's songs waiting."""
        version = await self.model_version()
        cached = await self.store.cached_embedding(video_id, version)
        if cached is not None:
            frames, meta = cached
            listened = Listened(
                frames, meta["title"], meta["channel"], meta["duration_s"], version,
                meta["heard"] == "preview",
            )  # fmt: skip
            return listened, "cache"
        if not fetch_new:
            raise UnknownVideoError(video_id)
        if member is None:
            return await self._listen_shared(video_id, version, start_s)
        await self._share_slots()
        async with self.members.claim(member, video_id, wait_limit_s(self.settings)):
            return await self._listen_shared(video_id, version, start_s)

    async def _share_slots(self) -> None:
        """With a queue, a member's one new song at a time holds across every bot process
        on it (its Redis), for links, uploads and previews alike."""
        if self.queued and not self._slots_shared:
            with contextlib.suppress(QueueUnavailableError):  # then this process counts
                self.members.share((await self.queue()).redis, self.settings.queue_name)
                self._slots_shared = True

    async def _listen_shared(
        self, video_id: str, version: str, start_s: float | None
    ) -> tuple[Listened, str]:
        pending = self._inflight.get(video_id)
        if pending is None:
            pending = asyncio.ensure_future(self._listen_new(video_id, version, start_s))
            self._inflight[video_id] = pending
            pending.add_done_callback(lambda _: self._inflight.pop(video_id, None))
        return await asyncio.shield(pending), "download"

    async def listen_file(self, path: Path) -> Listened:
        """A local audio file, heard where a video is; never cached."""
        return await self._run(listen_file, path.resolve())

    async def _listen_new(self, video_id: str, version: str, start_s: float | None) -> Listened:
        if self.queued:  # the worker checks the model version and writes the shared cache
            return await (await self.queue()).listen(video_id, start_s, version)
        listened = await self._run(listen_video, video_id, start_s)
        if listened.model_version != version:
            raise EarshotError(
                f"the worker runs model {listened.model_version}, expected {version}"
            )
        # A song joins the catalog; an excerpt (a SoundCloud Go+ preview) does not.
        joins = functools.partial(
            self.store.cache_song,
            join_catalog=not listened.preview,
            heard="preview" if listened.preview else "",
        )
        await self.store.write_behind(
            joins,
            video_id,
            version,
            listened.frames,
            listened.title,
            listened.channel,
            listened.duration_s,
        )
        return listened

    async def _run(self, function: Callable[..., Listened], *args: object) -> Listened:
        """One job in a worker, under the concurrency limit and the time limit. A job that
        would wait longer than a listener may take for a song is refused, saying how long
        it would wait (from how long songs take now)."""
        limit = self.settings.max_concurrent_requests
        ahead = self._running + self._waiting
        wait_s = self.pace.expected_wait_s(ahead, limit)
        if (
            wait_s > self.settings.request_timeout_s
            or self._waiting >= limit * MAX_WAITING_PER_SLOT
        ):
            raise BusyError(
                f"earshot is busy listening to other songs: a new one would wait {about(wait_s)} "
                "for its turn. Try again then; songs earshot already knows are answered now."
            )
        pool = await self._workers()
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        self._running += 1
        started = time.monotonic()
        try:
            listened = await pool.run(function, *args, timeout_s=self.settings.request_timeout_s)
        finally:
            self._running -= 1
            self._slots.release()
        self.pace.measured(time.monotonic() - started)  # a refusal says nothing of the pace
        return listened

    async def close(self) -> None:
        self._closed = True
        if self._pool is not None:
            await self._pool.close()
        if self._queue is not None:
            await self._queue.close()
