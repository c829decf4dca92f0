"""yt-dlp, restricted to one site's extractors: read a song's metadata, then download
bounded sections. The sites are YouTube, SoundCloud and Bandcamp; a song is named by its
key (``reference.song_key``: a YouTube id, or "soundcloud:user/track").

Only the song's own site's extractors are loaded, so no member can make the bot fetch an
arbitrary address. ``EARSHOT_TEST_ALLOW_LOOPBACK`` (tests only) maps a song key to a file
on a server at ``EARSHOT_TEST_MEDIA_BASE`` on 127.0.0.1, read with the generic extractor.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yt_dlp
from yt_dlp.utils import DownloadError, download_range_func

from ..disk import describe_free, is_disk_full, out_of_space
from ..errors import DiskFullError, EarshotError
from ..song_keys import SOURCE_NAMES, InvalidSongKeyError, checked_key, split_key
from . import bandcamp, refusals, soundcloud
from .links import watch_url
from .refusals import Refusal

log = logging.getLogger(__name__)

YOUTUBE_EXTRACTORS = [r"youtube$", r"youtube:tab$"]
# Each site's own extractors (names matched as yt-dlp does, ignoring case), and its pages.
EXTRACTORS = {
    "youtube": YOUTUBE_EXTRACTORS,
    "soundcloud": [r"soundcloud$"],
    "bandcamp": [r"bandcamp$"],
}
PAGES = {"youtube": watch_url, "soundcloud": soundcloud.page, "bandcamp": bandcamp.page}
SITES = frozenset(EXTRACTORS)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class VideoUnavailableError(EarshotError):
    """YouTube would not give earshot this video; ``refusal`` says why."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.member_message)
        self.refusal = refusal

    def __reduce__(self) -> tuple[Any, ...]:  # crosses from the worker process intact
        return type(self), (self.refusal,)


class LiveStreamError(VideoUnavailableError):
    def __init__(self, refusal: Refusal = refusals.LIVE) -> None:
        super().__init__(refusal)


class VideoTooLongError(EarshotError):
    pass


@dataclass(frozen=True)
class VideoInfo:
    video_id: str  # the song's key
    title: str
    channel: str
    duration_s: float | None
    info: dict[str, Any]

    @property
    def preview(self) -> bool:
        """The site offers only an excerpt (SoundCloud's Go+ tracks: 30 s, "preview")."""
        return "preview" in str(self.info.get("format_id") or "")


@dataclass(frozen=True)
class FetchOptions:
    ffmpeg: str
    max_video_seconds: int
    section_seconds: int
    section_count: int
    max_bytes: int
    socket_timeout_s: float = 20.0
    cookies_file: str | None = None
    proxy: str | None = None
    test_media_base: str | None = None  # set only with EARSHOT_TEST_ALLOW_LOOPBACK
    ffmpeg_location: str | None = None  # a folder holding a binary named ffmpeg
    js_runtime: tuple[str, str | None] = ("deno", None)  # (name, path), for YouTube's JS


def js_runtime(setting: str | None = None) -> tuple[str, str | None]:
    """The JavaScript runtime yt-dlp solves YouTube's challenges with, as (name, path).

    ``setting`` is YTDLP_JS_RUNTIME: ``NAME`` or ``NAME:PATH`` as yt-dlp's --js-runtimes
    takes it. By default, the deno binary that the ``deno`` package installed beside
    earshot; yt-dlp is given its path explicitly rather than left to search PATH.
    """
    if setting:
        name, _, path = setting.partition(":")  # checked by Settings
        return name.strip().lower(), path.strip() or None
    try:
        import deno

        return "deno", deno.find_deno_bin()
    except (ImportError, FileNotFoundError):
        return "deno", None  # yt-dlp then looks for deno itself


def _refused(video_id: str, error: DownloadError, doing: str) -> VideoUnavailableError:
    """Log a refusal on its own line (with the operator's hint if it is about earshot)."""
    source = split_key(video_id)[0]
    if source != "youtube":
        said = refusals.plain_reason(error)
        log.warning("%s refused %s while earshot tried to %s it: %s", source, video_id, doing, said)
        name = SOURCE_NAMES[source]
        return VideoUnavailableError(
            Refusal("unavailable", f"{name} would not let earshot listen to that track ({said}).")
        )
    refusal = refusals.classify(error)
    if refusal.blames_earshot:
        log.error(
            "YouTube refused to let earshot %s %s (%s): %s",
            doing,
            video_id,
            refusal.kind,
            refusal.operator_hint,
        )
    else:
        log.warning(
            "YouTube refused %s (%s) while earshot tried to %s it", video_id, refusal.kind, doing
        )
    log.debug("yt-dlp said: %s", error)
    return VideoUnavailableError(refusal)


def check_playable(info: VideoInfo, max_video_seconds: int) -> None:
    """Refuse live streams, upcoming premieres and videos over the length limit."""
    status = info.info.get("live_status")
    if info.info.get("is_live") or status in ("is_live", "post_live"):
        raise LiveStreamError()
    if status == "is_upcoming":
        raise VideoUnavailableError(refusals.NOT_PREMIERED)
    refusal = refusals.BY_AVAILABILITY.get(str(info.info.get("availability")))
    if refusal:
        raise VideoUnavailableError(refusal)
    if info.duration_s is not None and info.duration_s > max_video_seconds:
        raise VideoTooLongError(
            f"That video is {clock(info.duration_s)} long; earshot listens to videos of up "
            f"to {clock(max_video_seconds)}."
        )


def clock(seconds: float) -> str:
    """3:05, or 1:02:03 past an hour."""
    s = int(seconds)
    return (
        f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


def choose_sections(
    duration_s: float | None, section_seconds: int, count: int, start_s: float | None = None
) -> list[tuple[float, float]]:
    """Where to listen: ``count`` windows spread over the song, away from intro and outro;
    or, when the member linked to a moment (``start_s``), from that moment on."""
    if start_s is not None and start_s > 0:
        length = section_seconds * count
        if duration_s is not None:
            start_s = max(0.0, min(start_s, duration_s - min(length, duration_s)))
            length = min(length, duration_s - start_s)
        return [(round(start_s, 2), round(start_s + length, 2))]
    if duration_s is None or duration_s <= section_seconds * count:
        end = section_seconds * count if duration_s is None else duration_s
        return [(0.0, float(end))]
    sections = []
    for i in range(count):
        centre = duration_s * (i + 1) / (count + 1)
        start = max(0.0, min(centre - section_seconds / 2, duration_s - section_seconds))
        sections.append((round(start, 2), round(start + section_seconds, 2)))
    return sections


class YtDlpLogger:
    """yt-dlp's output into our log: its warnings (a missing JS runtime, a fallback to
    fewer clients) at WARNING, so an operator sees why formats go missing; its errors
    are logged by the caller as refusals."""

    def debug(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)

    def info(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)

    def warning(self, msg: str) -> None:
        log.warning("yt-dlp: %s", msg)

    def error(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)


def source_url(video_id: str, options: FetchOptions) -> str:
    """Where yt-dlp reads a song (by its key) from; a key whose id its source cannot have
    (from a forged queue job, say) is refused here, before any fetch."""
    source, song = checked_key(video_id)
    if options.test_media_base:
        return options.test_media_base.rstrip("/") + "/" + video_id
    if source not in PAGES:
        raise InvalidSongKeyError(video_id)  # a preview source: never fetched by yt-dlp
    return PAGES[source](song)


def _runtime_config(path: str | None) -> dict[str, str]:
    return {"path": path} if path else {}


def _params(options: FetchOptions, source: str = "youtube") -> dict[str, Any]:
    params: dict[str, Any] = {
        "quiet": True,
        "noprogress": True,
        "logger": YtDlpLogger(),
        "noplaylist": True,
        "socket_timeout": options.socket_timeout_s,
        "retries": 2,
        "ffmpeg_location": options.ffmpeg_location or options.ffmpeg,
        "format": "bestaudio[abr<=192]/bestaudio/best[height<=480]/best",
        "allowed_extractors": EXTRACTORS[source],
        "cachedir": False,
        "js_runtimes": {options.js_runtime[0]: _runtime_config(options.js_runtime[1])},
        # The challenge solver comes from the pinned yt-dlp-ejs package, never fetched
        # from GitHub or npm at run time.
        "remote_components": [],
    }
    if options.cookies_file:
        params["cookiefile"] = options.cookies_file
    if options.proxy:
        params["proxy"] = options.proxy
    if options.test_media_base:
        host = urlsplit(options.test_media_base).hostname or ""
        if host not in LOOPBACK_HOSTS:
            raise EarshotError("EARSHOT_TEST_MEDIA_BASE must be on 127.0.0.1 (tests only)")
        params["allowed_extractors"] = ["generic"]
    return params


def probe(video_id: str, options: FetchOptions) -> VideoInfo:
    """Metadata only: title, channel, duration, live status, availability."""
    try:
        with yt_dlp.YoutubeDL(_params(options, split_key(video_id)[0])) as ydl:
            info = ydl.extract_info(source_url(video_id, options), download=False)
    except DownloadError as exc:
        raise _refused(video_id, exc, "read") from None
    if not info:
        raise VideoUnavailableError(refusals.UNAVAILABLE)
    if info.get("_type") == "playlist":
        raise VideoUnavailableError(refusals.PLAYLIST)
    duration = info.get("duration")
    return VideoInfo(
        video_id,
        str(info.get("title") or ""),
        str(info.get("channel") or info.get("uploader") or ""),
        float(duration) if duration else None,
        info,
    )


def download_sections(
    info: VideoInfo, options: FetchOptions, folder: Path, start_s: float | None = None
) -> list[Path]:
    """Download the chosen sections of the audio into ``folder``; return the files.

    Each section is cut by ffmpeg from the stream, so only that part is fetched; each file
    is capped at ``max_bytes``.
    """
    sections = choose_sections(
        info.duration_s, options.section_seconds, options.section_count, start_s
    )
    if options.ffmpeg_location:
        # yt-dlp's section downloader checks for ffmpeg on PATH, ignoring ffmpeg_location.
        path = os.environ.get("PATH", "")
        if options.ffmpeg_location not in path.split(os.pathsep):
            os.environ["PATH"] = options.ffmpeg_location + os.pathsep + path
    params = {
        **_params(options, split_key(info.video_id)[0]),
        # Relative, under paths' home: an absolute template makes yt-dlp warn each time.
        "outtmpl": "section-%(section_start)s.%(ext)s",
        "download_ranges": download_range_func(None, sections),
        "external_downloader_args": {"ffmpeg_o": ["-fs", str(options.max_bytes)]},
        "paths": {"home": str(folder), "temp": str(folder)},
        "overwrites": True,
        "updatetime": False,
    }
    try:
        with yt_dlp.YoutubeDL(params) as ydl:
            ydl.process_ie_result(dict(info.info), download=True)
    except (DownloadError, OSError) as exc:
        if is_disk_full(exc) or out_of_space(folder):  # not the video's fault
            raise DiskFullError(describe_free(folder)) from None
        if isinstance(exc, OSError):
            raise
        raise _refused(info.video_id, exc, "download") from None
    files = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.name.startswith("section-") and not p.name.endswith(".part")
    )
    if not files:
        raise VideoUnavailableError(refusals.NO_AUDIO)
    return files


@dataclass(frozen=True)
class YtDlpEnvironment:
    """What yt-dlp reports about itself with earshot's options (its ``-v`` header)."""

    version: str
    js_runtimes: str  # e.g. "deno-2.9.8", or "none" when it found no usable runtime
    ejs_version: str | None  # the yt-dlp-ejs solver package, if installed
    libraries: str


class _HeaderLogger(YtDlpLogger):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def debug(self, msg: str) -> None:
        self.lines.append(msg)


def ytdlp_environment(options: FetchOptions) -> YtDlpEnvironment:
    """Ask yt-dlp, configured as earshot configures it, which JS runtime and solver it sees.

    This reads the lines yt-dlp prints with ``-v`` ("JS runtimes: deno-2.9.8", "Optional
    libraries: ... yt_dlp_ejs-0.8.0"), so what it shows is what yt-dlp itself will use.
    """
    logger = _HeaderLogger()
    params = {**_params(options), "verbose": True, "logger": logger}
    with yt_dlp.YoutubeDL(params, auto_init=False) as ydl:
        ydl.print_debug_header()
    found: dict[str, str] = {}
    for line in logger.lines:
        key, sep, value = line.removeprefix("[debug] ").partition(": ")
        if sep:
            found.setdefault(key, value.strip())
    libraries = found.get("Optional libraries", "")
    ejs = next(
        (lib.split("-", 1)[1] for lib in libraries.split(", ") if lib.startswith("yt_dlp_ejs-")),
        None,
    )
    return YtDlpEnvironment(
        yt_dlp.version.__version__, found.get("JS runtimes", "none"), ejs, libraries
    )
