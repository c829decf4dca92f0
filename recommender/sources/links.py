"""What members paste: YouTube video links and ids, and nothing else.

``parse_video_id`` returns the 11-character video id or raises ``LinkError`` with a
message that says what is accepted. Only exact YouTube hosts pass; the id must be a real
YouTube id shape. Nothing here touches the network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeAlias
from urllib.parse import parse_qs, urlsplit

from ..errors import EarshotError
from .urls import BadLink, split_link

# A song's identity everywhere past sources/: today a YouTube video id (11 characters),
# the key of the catalog's tracks, the embedding cache, replies and ratings. A new source
# gives its songs ids of its own here, and the schema a column for where they come from.
SongId: TypeAlias = str

MAX_INPUT_LENGTH = 500
VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")

_WATCH_HOSTS = frozenset(
    {
        "youtube.com",
        "www.youtube.com",
        "m.youtube.com",
        "music.youtube.com",
        "youtube-nocookie.com",
        "www.youtube-nocookie.com",
    }
)
_SHORT_HOSTS = frozenset({"youtu.be", "www.youtu.be"})
_PATH_KINDS = frozenset({"shorts", "embed", "live", "v", "e"})

ACCEPTED_FORMS = (
    "a YouTube video link (youtube.com/watch?v=…, youtu.be/…, /shorts/…, "
    "music.youtube.com) or an 11-character video id"
)


class LinkError(EarshotError, ValueError):
    """The input is not a YouTube video link; the message says why and what is accepted."""

    def __init__(self, reason: str) -> None:
        said = reason[:1].upper() + reason[1:] if reason[:1].islower() else reason
        super().__init__(f"{said}. Accepted: {ACCEPTED_FORMS}.")
        self.reason = reason


def is_youtube_host(host: str) -> bool:
    return host in _WATCH_HOSTS or host in _SHORT_HOSTS


def watch_url(video_id: SongId, start_s: float | None = None) -> str:
    """The link a member taps for a song (at a moment, if given)."""
    url = f"https://www.youtube.com/watch?v={video_id}"
    if start_s:
        url += f"&t={int(start_s)}s"
    return url


@dataclass(frozen=True)
class VideoLink:
    video_id: SongId
    start_s: float | None = None  # a moment the member linked to (&t=42s), if any


_ID_LIKE = re.compile(r"[A-Za-z0-9_-]{9,13}")  # one or two characters off an id
_TIME = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?")
ECHO_LIMIT = 60  # characters of a member's input quoted back in an error


def _echo(text: str) -> str:
    return text if len(text) <= ECHO_LIMIT else text[: ECHO_LIMIT - 1] + "…"


def _start_of(query: dict[str, list[str]]) -> float | None:
    """YouTube's t= (or start=): 42, 42s, 1m30s, 1h2m3s."""
    for key in ("t", "start"):
        for value in query.get(key, []):
            match = _TIME.fullmatch(value.strip().lower())
            if match and any(match.groups()):
                h, m, s = (int(g) if g else 0 for g in match.groups())
                return float(h * 3600 + m * 60 + s)
    return None


def parse_link(text: str) -> VideoLink:
    """The video (and the moment, if linked to) of a YouTube link or an 11-character id."""
    video = parse_video_id(text)
    raw = unwrap(text)
    if VIDEO_ID.fullmatch(raw):
        return VideoLink(video)
    candidate = raw if "://" in raw else "https://" + raw
    return VideoLink(video, _start_of(parse_qs(urlsplit(candidate).query)))


_MARKDOWN_LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^()\s<>]+)>?\s*\)")
_BARE_URL = re.compile(r"(?:https?://)?(?:[\w-]+\.)*(?:youtube(?:-nocookie)?\.com|youtu\.be)/\S+")
_MARKUP_AFTER = "_~|"  # markdown that may follow a link: tried only if the link fails
_CODE_ID = re.compile(r"`([A-Za-z0-9_-]{11})`")


def find_video_link(text: str) -> str | None:
    """The first YouTube video in a chat message: a link, bare, in <angle brackets>, in
    `code`, inside a markdown link ``[listen](https://youtu.be/…)``, or followed by
    punctuation; else a video id that is the whole message or in `code`. An id in the
    middle of a sentence is too ambiguous to count."""
    candidates = _MARKDOWN_LINK.findall(text) + [m.group(0) for m in _BARE_URL.finditer(text)]
    # In the order they stand in the message.
    candidates.sort(key=lambda c: text.find(c))
    for candidate in candidates:
        plain = candidate.rstrip(_CLOSING)
        for link in (plain, plain.rstrip(_MARKUP_AFTER + _CLOSING)):
            try:
                parse_video_id(link)
            except LinkError:
                continue
            return link
    whole = unwrap(text)
    if VIDEO_ID.fullmatch(whole):
        return whole
    code = _CODE_ID.search(text)
    return code.group(1) if code else None


_OPENING = "<([{'\"`*"  # brackets, quotes and markup around a pasted link or id
_CLOSING = ".,!?;:'\")]}>`*"  # the same closing, and the sentence's punctuation after it


def unwrap(text: str) -> str:
    """A pasted link or id without what commonly surrounds it: <no-embed>, (brackets),
    quotes, `code`, **bold**, and a full stop or comma after it. Never a character an id
    or a link can end with ("_", "-", "/", "=")."""
    return text.strip().lstrip(_OPENING).rstrip(_CLOSING).strip()


def parse_video_id(text: str) -> str:
    raw = unwrap(text)
    if not raw:
        raise LinkError("the link is empty")
    if len(raw) > MAX_INPUT_LENGTH:
        raise LinkError(f"the input is longer than {MAX_INPUT_LENGTH} characters")
    if any(c.isspace() for c in raw):
        raise LinkError("the input contains spaces; paste one link")
    if VIDEO_ID.fullmatch(raw):
        return raw
    if _ID_LIKE.fullmatch(raw):
        raise LinkError(f"'{raw}' has {len(raw)} characters, and YouTube video ids have exactly 11")

    try:
        link = split_link(raw)
    except BadLink as exc:
        raise LinkError(exc.reason) from None
    host, segments, query = link.host, link.segments, link.query
    if host not in _WATCH_HOSTS and host not in _SHORT_HOSTS:
        raise LinkError(f"'{_echo(host)}' is not YouTube")

    if host in _SHORT_HOSTS:
        video = segments[0] if len(segments) == 1 else ""
    elif segments == ["watch"]:
        values = query.get("v", [])
        video = values[0] if len(values) == 1 else ""
        if not values and "list" in query:
            raise LinkError("that is a playlist without a video; open one song and copy its link")
    elif len(segments) == 2 and segments[0] in _PATH_KINDS:
        video = segments[1]
    elif segments and segments[0] == "playlist":
        raise LinkError("that is a playlist without a video; open one song and copy its link")
    elif segments and (segments[0].startswith("@") or segments[0] in ("channel", "c", "user")):
        raise LinkError("that is a channel page, not a video")
    elif segments and segments[0] in ("results", "feed", "hashtag"):
        raise LinkError("that is a search or feed page, not a video")
    else:
        video = ""
    if not VIDEO_ID.fullmatch(video):
        raise LinkError("that YouTube link does not name a video")
    return video
