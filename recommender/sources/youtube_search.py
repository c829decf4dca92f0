"""A song found on YouTube by its name, as spotDL finds one: YouTube Music's "songs"
results first (official audio, with artist and length, through ytmusicapi), then a
YouTube video search (yt-dlp's own ``youtube:search`` extractor, results only, nothing
downloaded), each result scored by ``words.choose``. Blocking: run it in a thread.

Only ``music.youtube.com`` and ``www.youtube.com`` are asked, through YTDLP_PROXY when
set. The tests' switch points both clients at a loopback stand-in instead."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import yt_dlp
from yt_dlp.utils import DownloadError
from ytmusicapi import YTMusic

from ..errors import EarshotError
from ..song_keys import SONG_IDS
from .web import SourceUnavailableError
from .words import Candidate, Wanted, choose
from .youtube import YtDlpLogger

log = logging.getLogger(__name__)

RESULTS = 10  # per search: the right song is nearly always among the first few
TIMEOUT_S = 10.0  # per request
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class SearchOptions:
    proxy: str | None = None  # YTDLP_PROXY: YouTube's searches go the way its videos do
    test_proxy: str | None = None  # tests only: the stand-in, an HTTPS proxy on 127.0.0.1
    test_ca: str | None = None  # tests only: the stand-in's certificate authority
    timeout_s: float = TIMEOUT_S

    def __post_init__(self) -> None:
        if self.test_proxy and urlsplit(self.test_proxy).hostname not in LOOPBACK:
            raise EarshotError("EARSHOT_TEST_YOUTUBE_PROXY must be on 127.0.0.1 (tests only)")

    @property
    def via(self) -> str | None:
        return self.test_proxy or self.proxy


@dataclass(frozen=True)
class Found:
    video_id: str
    title: str
    channel: str
    duration_s: float | None
    how: str  # "YouTube Music" or "YouTube": which search found it


def find(wanted: Wanted, options: SearchOptions) -> Found | None:
    """The YouTube video most likely to be the song ``wanted`` names; None when no result
    of either search is. Raises SourceUnavailableError when neither search answered."""
    failures = 0
    for how, search in (("YouTube Music", music_songs), ("YouTube", videos)):
        try:
            candidates = search(wanted.words, options)
        except SourceUnavailableError as exc:
            log.warning("%s search failed for %r: %s", how, wanted.words, exc)
            failures += 1
            continue
        best = choose(candidates, wanted)
        if best is not None:
            return Found(best.video_id, best.title, best.channel, best.duration_s, how)
    if failures == 2:
        raise SourceUnavailableError(
            "YouTube's search did not answer; try again in a minute, or paste the song's link."
        )
    return None


# --- YouTube Music: songs ----------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _music_client(options: SearchOptions) -> YTMusic:
    session = requests.Session()
    session.max_redirects = 3
    session.request = functools.partial(session.request, timeout=options.timeout_s)  # type: ignore[method-assign]
    if options.via:
        session.proxies = {"https": options.via, "http": options.via}
    if options.test_proxy:
        session.trust_env = False  # the environment's CA bundle would override test_ca
        session.verify = options.test_ca or True
    return YTMusic(requests_session=session)


def music_songs(words: str, options: SearchOptions) -> list[Candidate]:
    """YouTube Music's "songs" results for ``words``: official audio uploads."""
    try:
        results = _music_client(options).search(words, filter="songs", limit=RESULTS)
    except requests.RequestException as exc:
        name = type(exc).__name__
        raise SourceUnavailableError(f"YouTube Music did not answer ({name})") from None
    except Exception as exc:  # a changed answer breaks ytmusicapi's parser anywhere
        if "Server returned HTTP" in str(exc):
            raise SourceUnavailableError(str(exc).splitlines()[0]) from None
        log.warning("YouTube Music's search answer was not understood: %r", exc)
        raise SourceUnavailableError("YouTube Music's answer was not understood") from None
    found = []
    for result in results[:RESULTS]:
        if not isinstance(result, dict) or not _is_video_id(result.get("videoId")):
            continue
        if result.get("isAvailable") is False:
            continue
        artists = [a.get("name") or "" for a in result.get("artists") or [] if isinstance(a, dict)]
        found.append(
            Candidate(
                str(result.get("title") or ""),
                ", ".join(a for a in artists if a),
                _seconds(result.get("duration_seconds")),
                song=True,
                video_id=str(result["videoId"]),
            )
        )
    return found


# --- YouTube: videos ---------------------------------------------------------------------


def videos(words: str, options: SearchOptions) -> list[Candidate]:
    """YouTube's video results for ``words`` (no live streams or premieres)."""
    params: dict[str, Any] = {
        "quiet": True,
        "logger": YtDlpLogger(),
        "extract_flat": "in_playlist",
        "allowed_extractors": ["youtube:search"],
        "socket_timeout": options.timeout_s,
        "retries": 1,
        "cachedir": False,
    }
    if options.via:
        params["proxy"] = options.via
    if options.test_proxy:
        params["nocheckcertificate"] = True  # the stand-in's certificate is a test CA's
    try:
        with yt_dlp.YoutubeDL(params) as ydl:
            info = ydl.extract_info(f"ytsearch{RESULTS}:{words}", download=False)
    except DownloadError as exc:
        log.debug("yt-dlp's search said: %s", exc)
        raise SourceUnavailableError("YouTube's search did not answer") from None
    found = []
    for entry in (info or {}).get("entries") or []:
        if not isinstance(entry, dict) or not _is_video_id(entry.get("id")):
            continue
        if entry.get("live_status") in ("is_live", "is_upcoming"):
            continue
        found.append(
            Candidate(
                str(entry.get("title") or ""),
                str(entry.get("channel") or entry.get("uploader") or ""),
                _seconds(entry.get("duration")),
                video_id=str(entry["id"]),
            )
        )
    return found


def _is_video_id(value: object) -> bool:
    """A search answer's id is only ever a YouTube video's (never a key of another source,
    a URL or a host): anything else is passed over."""
    return isinstance(value, str) and SONG_IDS["youtube"].fullmatch(value) is not None


def _seconds(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and value > 0 else None
