"""Listening in worker processes: download, decode and VGGish, off the caller's process.

TensorFlow is imported only in the workers, once per process, and the model is kept
loaded. A job that runs past its time limit gets its process killed and the pool replaced,
so a stuck download or inference cannot hold a slot forever.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
import os
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..disk import describe_free, is_disk_full
from ..errors import DiskFullError, EarshotError
from ..processes import process_alive
from ..sources.youtube import (
    FetchOptions,
    VideoTooLongError,
    check_playable,
    choose_sections,
    clock,
    download_sections,
    probe,
)
from ..vggish_format import MIN_SAMPLES, SAMPLE_RATE
from .audio import decode, probe_seconds
from .embedder import Embedder, configure_hub_cache

log = logging.getLogger(__name__)


CUT_SHARE = 0.95  # a section this close to DOWNLOAD_MAX_BYTES was cut by it (ffmpeg -fs)
STOP_WAIT_S = 5.0  # for a pool's exiting workers, all together; then the rest are killed


class ListenTimeoutError(EarshotError):
    costs_cooldown = True


class WorkerCrashedError(EarshotError):
    pass


class ListenersDiedError(EarshotError):
    """A queued song whose listening worker died on every try (killed, out of memory):
    not run again, since the song itself may be what kills them."""

    costs_cooldown = True

    def __init__(self, tries: int) -> None:
        times = {2: "twice", 3: "three times"}.get(tries, f"{tries} times")
        super().__init__(
            f"earshot's listeners stopped {times} while hearing this song, so it gave up on "
            "it (an operator has been told); try another song, or this one later."
        )
        self.operator_hint = (
            f"a listening job's worker died on each of its {tries} tries: look for the "
            "OOM killer or a crash in the queue workers' logs"
        )


class ListenersStoppedError(WorkerCrashedError):
    """The pool was closed: earshot is stopping (a queue worker hands the job back)."""

    def __init__(self) -> None:
        super().__init__("earshot is restarting; ask again in a minute.")

    def __reduce__(self) -> tuple:
        return type(self), ()


class SilentAudioError(EarshotError):
    # Known only once the song was fetched, decoded and measured: it used a listener, so
    # it costs the wait an answer does (or a silent file could be sent again at once).
    costs_cooldown = True


SILENT_RMS = 1e-4  # about -80 dBFS: digital silence, or hiss far below any music


@dataclass(frozen=True)
class WorkerConfig:
    model: str
    pca_params: Path
    data_dir: Path
    fetch: FetchOptions
    threads: int = 0  # TensorFlow's intra- and inter-op threads; 0: its default
    owner_pid: int = field(default_factory=os.getpid)  # the process that owns the pool

    @property
    def temp_root(self) -> Path:
        """Each pool's own folder: several processes (shards, queue workers) may share one
        DATA_DIR, and a pool clears its folder at start."""
        return self.data_dir / "tmp" / f"pool-{self.owner_pid}"


@dataclass(frozen=True)
class Listened:
    frames: np.ndarray  # (n, 128) uint8, postprocessed like AudioSet's release
    title: str
    channel: str
    duration_s: float | None
    model_version: str
    preview: bool = False  # the site gave only an excerpt (a SoundCloud Go+ track)


# --- inside a worker process ------------------------------------------------------------

_embedder: Embedder | None = None


def _exit_with_parent(parent: int) -> None:
    """A worker whose parent died (even by SIGKILL) must not linger holding a model."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(0)


def _quiet_native_logs() -> None:
    """TensorFlow's C++ side writes to file descriptor 2 before any setting can stop it
    ("failed call to cuInit" on every machine without a GPU). Point descriptor 2 at
    /dev/null and give Python's own logging a copy of the real stderr, so the bot's log
    keeps this worker's warnings and errors and loses only the native noise."""
    real_stderr = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    stream = os.fdopen(real_stderr, "w", buffering=1)
    sys.stderr = stream
    logging.basicConfig(
        level=logging.WARNING, stream=stream, format="%(levelname)s %(name)s: %(message)s"
    )


def _worker_init(data_dir: Path) -> None:
    threading.Thread(
        target=_exit_with_parent, args=(os.getppid(),), daemon=True, name="parent-watch"
    ).start()
    configure_hub_cache(data_dir)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _quiet_native_logs()


def _get_embedder(config: WorkerConfig) -> Embedder:
    global _embedder
    if _embedder is None or _embedder.setting != config.model:
        _embedder = Embedder(config.model, config.pca_params, threads=config.threads)
    return _embedder


def warm_up(config: WorkerConfig) -> str:
    """Load the model and run it once on a second of silence."""
    embedder = _get_embedder(config)
    embedder.frames(np.zeros(SAMPLE_RATE, dtype=np.float32))
    return embedder.version


@dataclass(frozen=True)
class ModelCheck:
    handle: str  # the handle in VGGISH_MODEL that loaded
    version: str
    shape: tuple[int, ...]  # of the frames for one second of audio: (1, 128)


def check_model(config: WorkerConfig) -> ModelCheck:
    """Load the model as a listening job would, and embed one second of audio."""
    embedder = _get_embedder(config)
    t = np.arange(SAMPLE_RATE, dtype=np.float32) / SAMPLE_RATE
    frames = embedder.frames((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))
    return ModelCheck(embedder.handle, embedder.version, tuple(frames.shape))


class TooShortError(EarshotError):
    costs_cooldown = True  # as SilentAudioError: known only after listening

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"earshot heard only {seconds:.1f} s of that song's audio and needs at least one "
            "second to compare it. Try another song, or a longer part of it."
        )
        self.seconds = seconds

    def __reduce__(self) -> tuple:  # crosses from the worker process intact
        return type(self), (self.seconds,)


class DownloadCapError(EarshotError):
    """The download limit cut every section to less than a second."""

    def __init__(self, seconds: float, max_bytes: int) -> None:
        super().__init__(
            f"That video's audio is too large for this server's download limit: earshot "
            f"could fetch only {seconds:.1f} s of it. Try another song."
        )
        self.operator_hint = (
            f"sections were cut at DOWNLOAD_MAX_BYTES={max_bytes} bytes ({seconds:.1f} s of "
            "audio, under the one second needed); raise it for high-bitrate sources"
        )
        self.seconds, self.max_bytes = seconds, max_bytes

    def __reduce__(self) -> tuple:
        return type(self), (self.seconds, self.max_bytes)


def _embed_waves(embedder: Embedder, waves: list[np.ndarray]) -> np.ndarray:
    usable = [w for w in waves if len(w) >= MIN_SAMPLES]
    if not usable:
        raise TooShortError(max((len(w) for w in waves), default=0) / SAMPLE_RATE)
    if max(float(np.sqrt(np.mean(np.square(w, dtype=np.float64)))) for w in usable) < SILENT_RMS:
        raise SilentAudioError(
            "That song is silent where earshot listened, so there is nothing to compare. "
            "Try another song, or link to a moment with music (&t=1m30s)."
        )
    return np.concatenate([embedder.frames(w) for w in usable])


def _job_dir(config: WorkerConfig) -> tempfile.TemporaryDirectory:
    config.temp_root.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(prefix=f"job-{os.getpid()}-", dir=config.temp_root)


def listen_video(config: WorkerConfig, video_id: str, start_s: float | None = None) -> Listened:
    """Metadata, then bounded sections (from ``start_s`` if the member linked to a moment),
    then frames. Temporary files go on every path."""
    embedder = _get_embedder(config)
    info = probe(video_id, config.fetch)
    check_playable(info, config.fetch.max_video_seconds)
    try:
        with _job_dir(config) as folder:
            files = download_sections(info, config.fetch, Path(folder), start_s)
            one_section = info.duration_s is None or bool(start_s)
            seconds = config.fetch.section_seconds * (
                config.fetch.section_count if one_section else 1
            )
            waves = [decode(f, config.fetch.ffmpeg, max_seconds=seconds + 1) for f in files]
            cut = [f.stat().st_size >= CUT_SHARE * config.fetch.max_bytes for f in files]
    except (OSError, DiskFullError) as exc:  # for the download, or even the job's folder
        if isinstance(exc, DiskFullError) or is_disk_full(exc):
            raise DiskFullError(describe_free(config.data_dir)) from None
        raise
    if any(cut):
        log.warning(
            "%s: %d of %d sections cut at DOWNLOAD_MAX_BYTES=%d",
            video_id,
            sum(cut),
            len(cut),
            config.fetch.max_bytes,
        )
    try:
        frames = _embed_waves(embedder, waves)
    except TooShortError:
        if not any(cut):
            raise
        longest = max(len(w) for w in waves) / SAMPLE_RATE
        raise DownloadCapError(longest, config.fetch.max_bytes) from None
    return Listened(
        frames, info.title, info.channel, info.duration_s, embedder.version, info.preview
    )


def listen_file(config: WorkerConfig, path: Path) -> Listened:
    """A local audio file, heard where a video is: SECTION_COUNT windows of SECTION_SECONDS
    spread over the length its header declares (the whole of a short one), so a long
    upload costs what a linked song does. Only those windows are decoded, each into an
    array of its own length: a file that decodes to hours (an hour of silence compresses
    to a megabyte) costs no more memory than a song. One that declares more than
    MAX_VIDEO_SECONDS is refused before anything is decoded."""
    embedder = _get_embedder(config)
    fetch = config.fetch
    declared = probe_seconds(path, fetch.ffmpeg)
    if declared is not None and declared > fetch.max_video_seconds:
        raise VideoTooLongError(
            f"That file is {clock(declared)} long; earshot listens to songs of up to "
            f"{clock(fetch.max_video_seconds)}."
        )
    windows = choose_sections(declared, fetch.section_seconds, fetch.section_count)
    waves = [decode(path, fetch.ffmpeg, start_s=a, max_seconds=b - a) for a, b in windows]
    frames = _embed_waves(embedder, waves)
    heard = sum(len(w) for w in waves) / SAMPLE_RATE
    seconds = declared if declared is not None and len(windows) > 1 else heard
    return Listened(frames, path.stem, "", seconds, embedder.version)


# --- in the caller's process ------------------------------------------------------------


def _clear_temp(config: WorkerConfig) -> None:
    """This pool's folder, and the folders of pools whose process is gone (killed)."""
    shutil.rmtree(config.temp_root, ignore_errors=True)
    base = config.data_dir / "tmp"
    for folder in base.glob("pool-*") if base.is_dir() else ():
        pid = folder.name.removeprefix("pool-")
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
    kinds = ("preview", "upload", "song")  # Listener.fetching's folders
    leftovers = [p for k in kinds for p in base.glob(f"{k}-*-*")] if base.is_dir() else []
    for left in leftovers:  # a killed process's previews, members' uploads, added songs
        pid = left.name.split("-")[1]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(left, ignore_errors=True)
    for legacy in base.glob("job-*") if base.is_dir() else ():  # before per-pool folders
        shutil.rmtree(legacy, ignore_errors=True)


class WorkerPool:
    """A process pool for listening jobs, with a time limit that kills what overruns.

    Workers cost a loaded model's memory, so they start on the first job and stop once
    no job has come for ``idle_s`` seconds; the next job starts them again (and waits
    for the model to load, as any job does).
    """

    def __init__(self, config: WorkerConfig, workers: int, idle_s: float = 600.0) -> None:
        self.config = config
        self.workers = workers
        self.idle_s = idle_s
        _clear_temp(config)
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._active = 0
        self._last_used = time.monotonic()
        self._idle_timer: asyncio.TimerHandle | None = None
        self.replaced = 0
        self.started = 0  # how many times the workers were started (first need, or again)
        self._closed = False
        self._stopping: list[threading.Thread] = []  # idle pools being stopped

    def _new_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        return concurrent.futures.ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_init,
            initargs=(self.config.data_dir,),
        )

    def _current(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._closed:
            raise ListenersStoppedError()
        if self._pool is None:
            log.info("starting the listening workers")
            self._pool = self._new_pool()
            self.started += 1
        return self._pool

    def pids(self) -> list[int]:
        """The worker processes running now (none while idle)."""
        processes = getattr(self._pool, "_processes", None) or {}
        return [p.pid for p in list(processes.values()) if p.pid is not None and p.is_alive()]

    @property
    def running(self) -> bool:
        return self._pool is not None

    async def run(self, function: Any, *args: Any, timeout_s: float) -> Any:
        loop = asyncio.get_running_loop()
        pool = self._current()
        self._active += 1
        future = loop.run_in_executor(pool, function, self.config, *args)
        try:
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            log.warning(
                "listening job %s%r ran over %.0f s; replacing the worker",
                getattr(function, "__name__", function),
                args,
                timeout_s,
            )
            self._replace(pool)
            raise ListenTimeoutError(
                f"Listening took longer than {timeout_s:.0f} seconds and was stopped. "
                "Try again later, or another song."
            ) from None
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self._closed and task is not None and not task.cancelling():
                raise ListenersStoppedError() from None  # close() cancelled its turn, not us
            raise
        except BrokenProcessPool:
            if self._closed:  # close() ended the job
                raise ListenersStoppedError() from None
            self._replace(pool)
            raise WorkerCrashedError(
                "The listening worker stopped unexpectedly; it has been restarted. Try again."
            ) from None
        finally:
            self._active -= 1
            self._last_used = time.monotonic()
            if not self._closed:
                self._schedule_idle_stop(loop)

    def _schedule_idle_stop(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        self._idle_timer = loop.call_later(self.idle_s, self._stop_if_idle)

    def _stop_if_idle(self) -> None:
        self._idle_timer = None
        if self._pool is None or self._active:
            return
        log.info(
            "no new song for %.0f s: stopping the listening workers (they start again on the "
            "next one)",
            self.idle_s,
        )
        pool, self._pool = self._pool, None
        # Joining the exiting processes takes a moment: not on the caller's event loop.
        stopping = threading.Thread(
            target=self._stop, args=(pool,), daemon=True, name="listening-workers-stop"
        )
        self._stopping = [t for t in self._stopping if t.is_alive()] + [stopping]
        stopping.start()

    def _replace(self, broken: concurrent.futures.ProcessPoolExecutor) -> None:
        if broken is not self._pool:
            return  # another job already replaced it
        self._pool = self._new_pool()
        self.replaced += 1
        processes = dict(getattr(broken, "_processes", None) or {})
        for process in processes.values():
            process.kill()
        broken.shutdown(wait=False, cancel_futures=True)
        for pid in processes:
            for leftover in self.config.temp_root.glob(f"job-{pid}-*"):
                shutil.rmtree(leftover, ignore_errors=True)

    @staticmethod
    def _stop(pool: concurrent.futures.ProcessPoolExecutor, wait_s: float = STOP_WAIT_S) -> None:
        """Idle workers exit; one still busy after ``wait_s`` is killed. Blocks, so not on
        an event loop. Afterwards no process and no thread of the pool is left: at exit,
        the interpreter joins both without a time limit (a stalled download would hold
        the exit as long as it stalls)."""
        processes = getattr(pool, "_processes", None) or {}  # read before shutdown() drops them
        manager = getattr(pool, "_executor_manager_thread", None)
        pool.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + wait_s
        for process in list(processes.values()):
            process.join(max(deadline - time.monotonic(), 0.0))
            if process.is_alive():
                process.kill()
                process.join(wait_s)
        if manager is not None:
            manager.join(wait_s)  # it ends once its processes have
            if manager.is_alive():
                log.warning("a listening pool's manager thread did not end: %s", manager)

    async def close(self) -> None:
        """Stop the workers for good, off the event loop; a job still running or waiting
        fails with ListenersStoppedError, and no job starts after this."""
        self._closed = True
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(self._stop, pool)
        for stopping in self._stopping:  # an idle stop begun before: as bounded as this one
            await asyncio.to_thread(stopping.join)
        self._stopping = []
