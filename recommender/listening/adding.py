"""Filling the catalog with songs a server chose: each song found by a source is heard the
way a member's song is (the same sections, the same workers and limits), then stored with
what its source said of it, one song per transaction.

A run is resumable: a song is stored only once heard, and a run skips the songs already
stored from its source, so running it again after a stop goes on where it ended. The same
recording named twice (the same ISRC, or the same artist and title with lengths within
2 s) is stored once. One run at a time per DATA_DIR: a second is refused, naming the first.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..catalog.store import Store
from ..disk import describe_free, is_disk_full
from ..errors import BusyError, DatabaseUnavailableError, DiskFullError, EarshotError
from ..results import Progress, no_progress
from ..song_facts import SongFound, library_key
from ..sources import apple_music, deezer
from ..sources.folder import audio_files, read_song
from ..sources.music_lists import list_songs, parse_list
from ..sources.subsonic import Credentials, Subsonic
from ..sources.urls import BadLink
from ..sources.web import NotThereError, SourceUnavailableError, WebClient
from ..sources.words import Wanted
from .audio import DecodeError
from .listener import Listener
from .searched import Searches
from .song_links import SongLinks
from .workers import ListenersStoppedError

log = logging.getLogger(__name__)

LOCK_NAME = "adding.lock"
UNEXPECTED = "earshot failed on it unexpectedly (the log has the details)"
LIST_APIS = {"deezer": deezer.API, "apple_music": apple_music.API}

# What ends a whole run rather than one song: nothing after it could be stored either
# (a source that stopped answering; one song missing there, NotThereError, is refused).
_STOPS_THE_RUN = (
    DiskFullError, DatabaseUnavailableError, ListenersStoppedError, SourceUnavailableError,
)  # fmt: skip


class AddRunningError(EarshotError):
    def __init__(self, holder: str) -> None:
        super().__init__(
            f"Another add is filling the catalog right now ({holder}). Wait for it to end, "
            "or stop it: a stopped add loses nothing, and running it again goes on."
        )


class BadSourceError(EarshotError):
    """What was given to add names nothing earshot can add songs from."""


@dataclass
class AddReport:
    """What one run did: songs added, songs already in the catalog, and songs refused,
    by the reason they were refused for (the same words a member would read)."""

    source: str
    found: int = 0
    added: int = 0
    already: int = 0
    refused: dict[str, list[str]] = field(default_factory=dict)
    stopped: str = ""  # why the run ended before its last song ('' it did not)

    @property
    def refused_count(self) -> int:
        return sum(len(names) for names in self.refused.values())

    def refuse(self, reason: str, name: str) -> None:
        self.refused.setdefault(reason, []).append(name)


@contextlib.contextmanager
def _one_add_at_a_time(data_dir: Path):  # type: ignore[no-untyped-def]
    """An exclusive lock on DATA_DIR/adding.lock, released however the run ends (the
    kernel releases it when a killed run's process is gone)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
            raise AddRunningError(holder or "another process") from None
        os.ftruncate(fd, 0)
        with contextlib.suppress(OSError):  # a full disk: the lock holds without its note
            os.pwrite(fd, f"process {os.getpid()}".encode(), 0)
        yield
    finally:
        os.close(fd)


# A song heard: its key ('' for a library's own, keyed by its origin), frames and length.
HeardSong = tuple[str, np.ndarray, float | None]
Hear = Callable[[SongFound], Awaitable[HeardSong]]


class SongAdder:
    """Adds a source's songs to the catalog: ``await adder.folder(path, progress)``."""

    def __init__(self, listener: Listener, store: Store) -> None:
        self.listener = listener
        self.store = store
        self.settings = listener.settings
        self.links = SongLinks(self.settings, store)  # a YouTube video for each song

    async def folder(
        self, folder: Path, progress: Progress = no_progress, *, workers: int | None = None
    ) -> AddReport:
        """Every audio file under ``folder`` (mp3, flac, ogg/opus, m4a/aac, wav), named by
        its tags or else its file name."""
        if not folder.is_dir():
            raise BadSourceError(
                f"{folder} is not a folder earshot can read. Give a folder of audio files "
                "(mp3, flac, ogg, opus, m4a, aac, wav), a Subsonic server's address, or a "
                "playlist or album link."
            )

        async def hear(found: SongFound) -> HeardSong:
            listened = await self.listener.listen_file(Path(found.origin))
            return "", listened.frames, found.duration_s or listened.duration_s

        with _one_add_at_a_time(self.settings.data_dir):
            paths = await asyncio.to_thread(lambda: list(audio_files(folder)))
            songs = _read_each(paths)
            return await self._add("folder", len(paths), songs, hear, progress, workers)

    async def subsonic(
        self,
        url: str,
        *,
        playlist: str | None = None,
        album: str | None = None,
        progress: Progress = no_progress,
        workers: int | None = None,
    ) -> AddReport:
        """A Subsonic server's songs: its whole library, or one ``playlist`` or ``album``
        (by name or id), signed in as SUBSONIC_USER. Each song's audio is streamed as a
        bounded mp3 the server makes of it, heard, and dropped."""
        s = self.settings
        credentials = Credentials(s.subsonic_user, s.subsonic_password, s.subsonic_api_key)
        server = Subsonic(url, credentials)
        pace = Pace(s.add_subsonic_pace_s)

        async def hear(found: SongFound) -> HeardSong:
            await pace.wait()
            async with self.listener.fetching("song", found.origin, None, 0) as folder:
                path = await asyncio.to_thread(
                    server.fetch, found.origin, folder, s.download_max_bytes
                )
                listened = await self.listener.listen_file(path)
            return "", listened.frames, found.duration_s or listened.duration_s

        try:
            await asyncio.to_thread(server.ping)
            with _one_add_at_a_time(s.data_dir):
                if playlist is not None:
                    songs = await asyncio.to_thread(server.playlist, playlist)
                elif album is not None:
                    songs = await asyncio.to_thread(server.album, album)
                else:
                    songs = await asyncio.to_thread(lambda: list(server.library()))
                return await self._add(
                    "subsonic", len(songs), _each(songs), hear, progress, workers
                )
        finally:
            server.close()

    async def music_list(
        self, link: str, progress: Progress = no_progress, *, workers: int | None = None
    ) -> AddReport:
        """A Deezer playlist or album, or an Apple Music album: each song named by artist
        and title is found on YouTube Music by the rules words are found by, then heard
        from there as a member's link is, at ADD_YOUTUBE_PACE_SECONDS a song. The video
        found is the song's key and link."""
        s = self.settings
        try:
            ref = parse_list(link)
        except BadLink as exc:
            raise BadSourceError(f"{exc}.") from None
        test_base = s.test_music_base if s.allow_test_hosts else None
        api = f"{test_base}/{ref.service}" if test_base else LIST_APIS[ref.service]
        async with WebClient(ref.name, allow_loopback=test_base is not None) as client:
            try:
                songs = await list_songs(client, ref, api)
            except BadLink as exc:  # the service has no such list
                raise BadSourceError(f"{exc}.") from None
        searches, pace = Searches(s), Pace(s.add_youtube_pace_s)

        async def hear(found: SongFound) -> HeardSong:
            await pace.wait()
            wanted = Wanted(f"{found.artist} {found.title}".strip(), found.title,
                            found.artist, found.duration_s)  # fmt: skip
            video = await searches.find(wanted)
            listened, _ = await self.listener.listen(video.video_id)
            return video.video_id, listened.frames, found.duration_s or listened.duration_s

        with _one_add_at_a_time(s.data_dir):
            return await self._add(ref.service, len(songs), _each(songs), hear, progress, workers)

    async def _add(
        self,
        source: str,
        total: int,
        songs: AsyncIterator[SongFound],
        hear: Hear,
        progress: Progress,
        workers: int | None = None,
    ) -> AddReport:
        """``workers``: songs heard at once (default MAX_CONCURRENT_REQUESTS)."""
        report = AddReport(source, found=total)
        done_before = await self.store.song_origins(source)
        done = 0
        progress("adding", 0, total)
        queue: asyncio.Queue[SongFound | None] = asyncio.Queue(maxsize=64)
        workers = max(1, workers or self.settings.max_concurrent_requests)

        async def feed() -> None:
            try:
                async for found in songs:
                    await queue.put(found)
            finally:
                for _ in range(workers):
                    await queue.put(None)

        async def work() -> None:
            nonlocal done
            while (found := await queue.get()) is not None:
                if not report.stopped:
                    await self._one(source, found, done_before, hear, report)
                done += 1
                progress("adding", done, total)

        feeder = asyncio.create_task(feed())
        try:
            await asyncio.gather(*(work() for _ in range(workers)))
        finally:
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeder
        log.info(
            "add from %s: %d found, %d added, %d already there, %d refused%s",
            source, report.found, report.added, report.already, report.refused_count,
            f"; stopped: {report.stopped}" if report.stopped else "",
        )  # fmt: skip
        return report

    def _no_room(self) -> str:
        return (
            f"There is no disk space left: {describe_free(self.settings.data_dir)}. Free "
            "some space there."
        )

    async def _one(
        self,
        source: str,
        found: SongFound,
        done_before: set[str],
        hear: Hear,
        report: AddReport,
    ) -> None:
        if found.origin in done_before:
            report.already += 1
            return
        try:
            if await self.store.same_song(found, found.duration_s) is not None:
                report.already += 1
                return
            key, frames, duration_s = await _when_not_busy(hear, found)
            same = await self.store.add_song(
                key or library_key(source, found.origin), source, found, frames, duration_s
            )
        except NotThereError as exc:
            report.refuse(_reason(exc), found.shown)
            return
        except DiskFullError:
            report.stopped = self._no_room()
            return
        except _STOPS_THE_RUN as exc:
            report.stopped = str(exc)
            return
        except EarshotError as exc:
            report.refuse(_reason(exc), found.shown)
            return
        except Exception as exc:
            if is_disk_full(exc):  # the database's own error, or the file system's
                report.stopped = self._no_room()
                return
            log.exception("adding %s failed", found.origin)  # one song's surprise: named
            report.refuse(UNEXPECTED, found.shown)
            return
        if same is None:
            report.added += 1
        else:
            report.already += 1


BUSY_RETRY_S = 5.0


async def _when_not_busy(hear: Hear, found: SongFound) -> HeardSong:
    """Members' songs come first: when the listeners are too busy to take one more, the
    song waits its turn and is asked again, never refused for it."""
    while True:
        try:
            return await hear(found)
        except BusyError:
            await asyncio.sleep(BUSY_RETRY_S)


def _reason(exc: EarshotError) -> str:
    """The refusal's words without a file's own detail ("... can read (Invalid data)"),
    so the summary groups songs refused for one reason."""
    said = str(exc)
    return said.split(" (", 1)[0] if isinstance(exc, DecodeError) else said


async def _each(songs: Iterable[SongFound]) -> AsyncIterator[SongFound]:
    for song in songs:
        yield song


class Pace:
    """At least ``interval_s`` between the starts of requests to one service, however many
    tasks ask."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if self.interval_s <= 0:
            return
        async with self._lock:
            loop = asyncio.get_running_loop()
            delay = self._next - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self._next = loop.time() + self.interval_s


async def _read_each(paths: Iterable[Path]) -> AsyncIterator[SongFound]:
    """Each file's tags, read in a thread (a slow disk never stalls the loop)."""
    for path in paths:
        yield await asyncio.to_thread(read_song, path)
