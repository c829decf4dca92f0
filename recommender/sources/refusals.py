"""Why YouTube would not give earshot a video, told to the member and to the operator.

yt-dlp wraps what went wrong in a ``DownloadError`` whose ``exc_info`` holds the real
exception: a ``GeoRestrictedError`` for region blocks, an ``ExtractorError`` carrying
YouTube's own reason text ("Private video. Sign in if you've been granted access to this
video", "Sign in to confirm you're not a bot", "Premieres in 3 hours", ...), or one caused
by an ``HTTPError`` (429 when YouTube rate-limits). Each known refusal gets its own kind,
a sentence for the member, and a hint for the operator's log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from yt_dlp.networking.exceptions import HTTPError
from yt_dlp.utils import DownloadError, ExtractorError, GeoRestrictedError, UserNotLive


@dataclass(frozen=True)
class Refusal:
    kind: str  # a short stable name, for logs and tests
    member_message: str  # what the member reads
    operator_hint: str = ""  # what the operator can do about it, for the log

    @property
    def blames_earshot(self) -> bool:
        """YouTube refused the bot itself (not this video): the operator should act."""
        return bool(self.operator_hint)


_PUSHBACK_HINT = (
    "YouTube distrusts this server's address: set YTDLP_COOKIES_FILE, YTDLP_PROXY or a "
    "PO-token provider plugin (README: When YouTube pushes back)"
)

PRIVATE = Refusal("private", "That video is private, so earshot cannot listen to it.")
REMOVED = Refusal("removed", "That video has been removed from YouTube.")
AGE_RESTRICTED = Refusal(
    "age_restricted", "That video is age-restricted, so earshot cannot listen to it."
)
MEMBERS_ONLY = Refusal("members_only", "That video is for channel members only.")
PREMIUM_ONLY = Refusal("premium_only", "That video is for YouTube Premium members only.")
REGION_BLOCKED = Refusal("region_blocked", "That video is not available in the bot's country.")
LIVE = Refusal("live", "That is a live stream; earshot listens to finished videos only.")
NOT_PREMIERED = Refusal("not_premiered", "That video has not premiered yet; ask again once it has.")
BOT_CHECK = Refusal(
    "bot_check",
    "YouTube is asking earshot to prove it is not a bot, so it cannot fetch new songs "
    "right now. Songs in the catalog still work; the bot's owners have been told.",
    _PUSHBACK_HINT,
)
RATE_LIMITED = Refusal(
    "rate_limited",
    "YouTube is limiting how fast earshot can fetch songs; try again in a few minutes.",
    "YouTube rate-limited this server (HTTP 429); it usually lifts within an hour. "
    + _PUSHBACK_HINT,
)
UNDECODABLE = Refusal(
    "undecodable", "earshot could not decode that video's audio; try another song."
)
UNAVAILABLE = Refusal("unavailable", "That video is unavailable.")
PLAYLIST = Refusal("playlist", "That link is a playlist, not a video.")
NO_AUDIO = Refusal("no_audio", "earshot could not download any audio from that video.")
UNKNOWN = Refusal(
    "unknown", "YouTube did not let earshot fetch that video right now; try again later."
)

# YouTube's own reason texts (as yt-dlp passes them on), checked in this order: the
# bot check and the age gate both start "Sign in to confirm", and "Video unavailable"
# prefixes more specific reasons.
_BY_TEXT: list[tuple[str, Refusal]] = [
    (r"confirm you.?re not a bot", BOT_CHECK),
    (r"http error 429|too many requests|content isn.?t available, try again later", RATE_LIMITED),
    (r"confirm your age|age[- ]restricted|inappropriate for some users", AGE_RESTRICTED),
    (r"private video|video is private", PRIVATE),
    (r"members[- ]only|join this channel|available to this channel.s members", MEMBERS_ONLY),
    (r"premium members|youtube premium", PREMIUM_ONLY),
    (
        r"not made this video available in your country|not available in your country|"
        r"blocked it in your country|geo.?restrict|not available from your location",
        REGION_BLOCKED,
    ),
    (r"premieres? in|premiere will begin|live event will begin|scheduled", NOT_PREMIERED),
    (r"removed|terminated|no longer available|deleted|does not exist", REMOVED),
    (
        r"invalid data found when processing input|could not find codec|error while decoding|"
        r"ffmpeg exited with code|postprocessing: .*conversion failed",
        UNDECODABLE,
    ),
    (r"video unavailable|unavailable|not available|404", UNAVAILABLE),
]

# yt-dlp's ``availability`` field, for videos whose metadata it could read.
BY_AVAILABILITY = {
    "private": PRIVATE,
    "premium_only": PREMIUM_ONLY,
    "subscriber_only": MEMBERS_ONLY,
    "needs_auth": AGE_RESTRICTED,  # YouTube sets it for age-gated videos
}


def _root_cause(error: BaseException) -> BaseException:
    if isinstance(error, DownloadError) and error.exc_info and error.exc_info[1] is not None:
        return error.exc_info[1]
    return error


def classify(error: BaseException | str) -> Refusal:
    """The refusal behind a yt-dlp error (or its message)."""
    if isinstance(error, str):
        return _by_text(error)
    cause = _root_cause(error)
    if isinstance(cause, GeoRestrictedError):
        return REGION_BLOCKED
    if isinstance(cause, UserNotLive):
        return NOT_PREMIERED
    http = cause.cause if isinstance(cause, ExtractorError) else cause
    if isinstance(http, HTTPError) and http.status == 429:
        return RATE_LIMITED
    return _by_text(str(cause) if isinstance(cause, ExtractorError) else str(error))


def _by_text(message: str) -> Refusal:
    lowered = message.lower()
    for pattern, refusal in _BY_TEXT:
        if re.search(pattern, lowered):
            return refusal
    return UNKNOWN


_PREFIX = re.compile(r"^(?:ERROR:\s*)?(?:\[[^\]]+\]\s*)?(?:[^\s:]+:\s+)?")


def plain_reason(error: BaseException) -> str:
    """A yt-dlp error in a few words for a member: its first line without "ERROR:
    [extractor] id:", cut to a sentence's length."""
    text = (str(_root_cause(error)) or str(error)).strip()
    line = text.splitlines()[0].split("; please report")[0] if text else ""
    reason = _PREFIX.sub("", line).rstrip(".") or "no reason given"
    return reason if len(reason) <= 120 else reason[:119] + "…"
