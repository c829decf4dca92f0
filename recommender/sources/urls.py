"""A pasted link split into its parts, with what no source accepts refused first: other
schemes, a user name or password (``spotify.com@example.net``), unusual ports, no host.
Hosts are then matched exactly by each source (``open.spotify.com.example.net`` is not
Spotify). Nothing here touches the network."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import SplitResult, parse_qs, urlsplit

from .reference import ONE_SONG


class BadLink(ValueError):
    """Why a link is refused, whatever the source: ``reason`` is a sentence's start."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Link:
    host: str  # lower case, without a trailing dot
    segments: list[str]  # the path's non-empty parts
    query: dict[str, list[str]]
    parts: SplitResult

    @property
    def url(self) -> str:
        return self.parts.geturl()


# "javascript:…", "data:…", "file:/…": a scheme, not a host and its port ("host.com:443").
SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:(?![0-9])\S")


def looks_like_link(raw: str) -> bool:
    """Whether a member's text is meant as a link: a scheme, or one token with a host
    and a path ("youtu.be/…")."""
    if "://" in raw or (" " not in raw and SCHEME.match(raw)):
        return True
    head = raw.split("/", 1)[0]
    return "/" in raw and "." in head and " " not in raw


def split_link(raw: str) -> Link:
    if " " in raw.strip() and "://" in raw and not raw.lower().startswith(("http://", "https://")):
        raise BadLink("that mixes words and a link; paste one link, or only words")
    candidate = raw if "://" in raw or SCHEME.match(raw) else "https://" + raw
    try:
        parts = urlsplit(candidate)
        port = parts.port
    except ValueError:
        raise BadLink("that is not a well-formed link") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise BadLink(f"links with the scheme '{parts.scheme}:' are not accepted")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise BadLink("links with a user name or password in them are not accepted")
    if port not in (None, 80, 443):
        raise BadLink("links with an unusual port are not accepted")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise BadLink("the link has no host")
    segments = [s for s in parts.path.split("/") if s]
    return Link(host, segments, parse_qs(parts.query), parts)


def track_id(
    segments: list[str], pattern: re.Pattern[str], *, service: str, lists: frozenset[str]
) -> str:
    """The ID of a ``…/track/ID`` path (after any locale segments the caller dropped);
    a list ("that Spotify album is not one song") or anything else is refused."""
    if len(segments) == 2 and segments[0] == "track" and pattern.fullmatch(segments[1]):
        return segments[1]
    if segments and segments[0] in lists:
        raise BadLink(f"that {service} {segments[0]} is not one song: {ONE_SONG}")
    raise BadLink(f"that {service} link does not name a track")
