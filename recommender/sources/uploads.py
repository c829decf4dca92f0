"""A song a member uploads to Discord: an audio or video file, or a voice message.

Its URL is on Discord's CDN, signed and short-lived (``?ex=…&is=…&hm=…``), so it is read
while the member's interaction is open. It is checked by host, type, size and (for a
voice message, whose length Discord gives) length before a byte is fetched, then fetched
through ``web.WebClient`` from the CDN's own hosts only. Nothing here keeps the audio."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..config import Settings
from ..errors import EarshotError
from .web import Hosts, NotThereError, SourceUnavailableError, WebClient

CDN_HOSTS = Hosts(frozenset({"cdn.discordapp.com", "media.discordapp.net"}))
MIN_SECONDS = 3.0  # shorter, and there is too little music to hear what it sounds like
FETCH_TIMEOUT_S = 30.0
KINDS = ("audio/", "video/")  # a video's sound is listened to, as a YouTube video's is
ACCEPTED_UPLOADS = (
    "an audio or video file (mp3, m4a, ogg, opus, wav, flac, mp4, webm…) or a voice message"
)


@dataclass(frozen=True)
class Upload:
    """An attachment, as Discord describes it."""

    url: str
    filename: str
    content_type: str  # '' when Discord gave none
    size: int
    duration_s: float | None = None  # given for a voice message
    voice: bool = False

    @property
    def described(self) -> str:
        """How a reply names it: "your voice message", or the file's name."""
        return "your voice message" if self.voice else f"'{_short(self.filename)}'"

    @property
    def title(self) -> str:
        return "Your voice message" if self.voice else _short(self.filename)


def _short(name: str, limit: int = 60) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


class UploadRefusedError(EarshotError):
    """An upload earshot will not listen to; says why, and what it takes."""

    def __init__(self, message: str) -> None:
        super().__init__(message[:1].upper() + message[1:])


def _megabytes(size: int) -> str:
    whole, rest = divmod(size, 1 << 20)
    return f"{whole} MB" if not rest else f"{size / (1 << 20):.1f} MB"


def check(upload: Upload, max_bytes: int, test_cdn: str | None = None) -> None:
    """Refuse, before fetching, what earshot would not listen to."""
    parts = urlsplit(upload.url)
    hosts = CDN_HOSTS.with_test_host(test_cdn)
    secure = parts.scheme == "https" or (test_cdn is not None and parts.scheme == "http")
    if not secure or not hosts.allow(parts.hostname or ""):
        raise UploadRefusedError(
            "That file is not on Discord's own servers, so earshot will not fetch it."
        )
    kind = upload.content_type.split(";")[0].strip().lower()
    if not kind.startswith(KINDS):
        what = f"({kind})" if kind else "(Discord could not tell what it is)"
        raise UploadRefusedError(
            f"{upload.described} is not audio {what}. Accepted: {ACCEPTED_UPLOADS}."
        )
    if upload.size <= 0:
        raise UploadRefusedError(f"{upload.described} is empty. Accepted: {ACCEPTED_UPLOADS}.")
    if upload.size > max_bytes:
        raise UploadRefusedError(
            f"{upload.described} is {_megabytes(upload.size)}, over earshot's limit of "
            f"{_megabytes(max_bytes)} for files. A shorter excerpt, or a compressed copy "
            "(mp3, m4a, opus), will do."
        )
    if upload.duration_s is not None:
        too_short(upload, upload.duration_s)


def check_early(upload: Upload, settings: Settings) -> str | None:
    """``check`` with a deployment's limits; returns the tests' CDN stand-in, if any."""
    test_cdn = settings.test_discord_cdn if settings.allow_test_hosts else None
    check(upload, settings.upload_max_bytes, test_cdn)
    return test_cdn


def too_short(upload: Upload, seconds: float) -> None:
    if seconds < MIN_SECONDS:
        raise UploadRefusedError(
            f"{upload.described} is {seconds:.1f} s long; earshot needs at least "
            f"{MIN_SECONDS:.0f} s of music to hear what it sounds like."
        )


async def fetch(upload: Upload, dest: Path, max_bytes: int, test_cdn: str | None = None) -> Path:
    """The file, into ``dest``, from the CDN's hosts only and at most ``max_bytes``."""
    hosts = CDN_HOSTS.with_test_host(test_cdn)
    client = WebClient("Discord", allow_loopback=test_cdn is not None, timeout_s=FETCH_TIMEOUT_S)
    try:
        async with client:
            return await client.download(upload.url, hosts, dest, max_bytes)
    except NotThereError:
        raise UploadRefusedError(
            f"Discord no longer has {upload.described} (its link expired or it was deleted); "
            "upload it again."
        ) from None
    except SourceUnavailableError as exc:
        raise SourceUnavailableError(f"earshot could not fetch {upload.described}: {exc}") from None
