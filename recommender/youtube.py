"""yt-dlp, restricted to YouTube: read a video's metadata, then download bounded sections.

Only YouTube's extractors are loaded, so no member can make the bot fetch an arbitrary
address. ``EARSHOT_TEST_ALLOW_LOOPBACK`` (tests only) maps a video id to a file on a
server at ``EARSHOT_TEST_MEDIA_BASE`` on 127.0.0.1, read with yt-dlp's generic extractor.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yt_dlp
from yt_dlp.utils import DownloadError, download_range_func

from .errors import EarshotError
from .links import watch_url

log = logging.getLogger(__name__)

YOUTUBE_EXTRACTORS = [r"youtube$", r"youtube:tab$"]
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class VideoUnavailableError(EarshotError):
    """The video cannot be listened to; the message says why."""


class VideoTooLongError(EarshotError):
    pass


class LiveStreamError(EarshotError):
    pass


@dataclass(frozen=True)
class VideoInfo:
    video_id: str
    title: str
    channel: str
    duration_s: float | None
    info: dict[str, Any]


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


# What YouTube says, and what we tell the member. Checked in order.
_UNAVAILABLE = [
    (r"private video|video is private", "That video is private."),
    (
        r"confirm your age|age[- ]restricted|inappropriate for some users",
        "That video is age-restricted, so earshot cannot listen to it.",
    ),
    (
        r"not (?:made this video )?available in your country|blocked it in your country|"
        r"geo.?restrict",
        "That video is not available in the bot's region.",
    ),
    (
        r"removed|terminated|no longer available|deleted",
        "That video has been removed from YouTube.",
    ),
    (r"members[- ]only|join this channel", "That video is for channel members only."),
    (r"premieres? in|live event will begin|scheduled", "That video has not premiered yet."),
    (r"video unavailable|unavailable|does not exist|404", "That video is unavailable."),
]


_AVAILABILITY = {
    "private": "That video is private.",
    "premium_only": "That video is for YouTube Premium members only.",
    "subscriber_only": "That video is for channel members only.",
    "needs_auth": "That video needs a signed-in account (it may be age-restricted).",
}


def explain_failure(message: str) -> str:
    """A member-facing sentence for a yt-dlp error message."""
    lowered = message.lower()
    for pattern, sentence in _UNAVAILABLE:
        if re.search(pattern, lowered):
            return sentence
    return "YouTube did not let earshot fetch that video right now; try again later."


def check_playable(info: VideoInfo, max_video_seconds: int) -> None:
    """Refuse live streams, upcoming premieres and videos over the length limit."""
    status = info.info.get("live_status")
    if info.info.get("is_live") or status in ("is_live", "post_live"):
        raise LiveStreamError("That is a live stream; earshot listens to finished videos only.")
    if status == "is_upcoming":
        raise VideoUnavailableError("That video has not premiered yet.")
    refusal = _AVAILABILITY.get(str(info.info.get("availability")))
    if refusal:
        raise VideoUnavailableError(refusal)
    if info.duration_s is not None and info.duration_s > max_video_seconds:
        raise VideoTooLongError(
            f"That video is {_clock(info.duration_s)} long; earshot listens to videos of up "
            f"to {_clock(max_video_seconds)}."
        )


def _clock(seconds: float) -> str:
    s = int(seconds)
    return (
        f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


def choose_sections(
    duration_s: float | None, section_seconds: int, count: int
) -> list[tuple[float, float]]:
    """Where to listen: ``count`` windows spread over the song, away from intro and outro."""
    if duration_s is None or duration_s <= section_seconds * count:
        end = section_seconds * count if duration_s is None else duration_s
        return [(0.0, float(end))]
    sections = []
    for i in range(count):
        centre = duration_s * (i + 1) / (count + 1)
        start = max(0.0, min(centre - section_seconds / 2, duration_s - section_seconds))
        sections.append((round(start, 2), round(start + section_seconds, 2)))
    return sections


class _Logger:
    """yt-dlp's output into our log, quietly."""

    def debug(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)

    def info(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)

    def warning(self, msg: str) -> None:
        log.info("yt-dlp: %s", msg)

    def error(self, msg: str) -> None:
        log.info("yt-dlp: %s", msg)


def source_url(video_id: str, options: FetchOptions) -> str:
    if options.test_media_base:
        return options.test_media_base.rstrip("/") + "/" + video_id
    return watch_url(video_id)


def _params(options: FetchOptions) -> dict[str, Any]:
    params: dict[str, Any] = {
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "logger": _Logger(),
        "noplaylist": True,
        "socket_timeout": options.socket_timeout_s,
        "retries": 2,
        "ffmpeg_location": options.ffmpeg_location or options.ffmpeg,
        "format": "bestaudio[abr<=192]/bestaudio/best[height<=480]/best",
        "allowed_extractors": YOUTUBE_EXTRACTORS,
        "cachedir": False,
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
        with yt_dlp.YoutubeDL(_params(options)) as ydl:
            info = ydl.extract_info(source_url(video_id, options), download=False)
    except DownloadError as exc:
        log.warning("yt-dlp could not read %s: %s", video_id, exc)
        raise VideoUnavailableError(explain_failure(str(exc))) from None
    if not info:
        raise VideoUnavailableError("That video is unavailable.")
    if info.get("_type") == "playlist":
        raise VideoUnavailableError("That link is a playlist, not a video.")
    duration = info.get("duration")
    return VideoInfo(
        video_id,
        str(info.get("title") or ""),
        str(info.get("channel") or info.get("uploader") or ""),
        float(duration) if duration else None,
        info,
    )


def download_sections(info: VideoInfo, options: FetchOptions, folder: Path) -> list[Path]:
    """Download the chosen sections of the audio into ``folder``; return the files.

    Each section is cut by ffmpeg from the stream, so only that part is fetched; each file
    is capped at ``max_bytes``.
    """
    sections = choose_sections(info.duration_s, options.section_seconds, options.section_count)
    if options.ffmpeg_location:
        # yt-dlp's section downloader checks for ffmpeg on PATH, ignoring ffmpeg_location.
        path = os.environ.get("PATH", "")
        if options.ffmpeg_location not in path.split(os.pathsep):
            os.environ["PATH"] = options.ffmpeg_location + os.pathsep + path
    params = {
        **_params(options),
        "outtmpl": str(folder / "section-%(section_start)s.%(ext)s"),
        "download_ranges": download_range_func(None, sections),
        "external_downloader_args": {"ffmpeg_o": ["-fs", str(options.max_bytes)]},
        "paths": {"home": str(folder), "temp": str(folder)},
        "overwrites": True,
        "updatetime": False,
    }
    try:
        with yt_dlp.YoutubeDL(params) as ydl:
            ydl.process_ie_result(dict(info.info), download=True)
    except DownloadError as exc:
        log.warning("yt-dlp could not download %s: %s", info.video_id, exc)
        raise VideoUnavailableError(explain_failure(str(exc))) from None
    files = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.name.startswith("section-") and not p.name.endswith(".part")
    )
    if not files:
        raise VideoUnavailableError("earshot could not download any audio from that video.")
    return files
