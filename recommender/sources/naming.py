"""What a member typed, to a song reference: a link to one of the sources, a YouTube id, a
Spotify URI, or words to search for. Nothing here touches the network; a refusal says in
one sentence what was wrong and what is accepted."""

from __future__ import annotations

import re

from . import apple_music, bandcamp, deezer, soundcloud, spotify, words
from .links import (
    MAX_INPUT_LENGTH,
    VIDEO_ID,
    LinkError,
    find_video_link,
    is_youtube_host,
    parse_link,
    unwrap,
    watch_url,
)
from .reference import SongRef, SongRefError
from .urls import BadLink, looks_like_link, split_link

LINK_PARSERS = (spotify.parse, apple_music.parse, deezer.parse, soundcloud.parse, bandcamp.parse)
# One token with what ids have and words rarely do (a digit, _ or -, a capital inside):
# an id at 11 characters, a mistyped one at 9 to 13. "Thunderbolt" is words.
ID_LIKE = re.compile(r"(?=.*[0-9_-]|.+[A-Z])[A-Za-z0-9_-]{9,13}")
ECHO_LIMIT = 60


def _echo(text: str) -> str:
    return text if len(text) <= ECHO_LIMIT else text[: ECHO_LIMIT - 1] + "…"


def _is_known_host(raw: str) -> bool:
    """A bare host of a source ("youtube.com", "open.spotify.com"): a link with no song."""
    host = raw.lower().rstrip("/")
    known = spotify.HOSTS | apple_music.HOSTS | deezer.HOSTS | soundcloud.HOSTS
    return is_youtube_host(host) or host in known or host.endswith(bandcamp.SUFFIX)


_WHOLE_MARKDOWN_LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^()\s<>]+)>?\s*\)")


def parse_song(text: str) -> SongRef:
    whole = _WHOLE_MARKDOWN_LINK.fullmatch(text.strip())
    raw = unwrap(whole.group(1) if whole else text)
    if not raw:
        raise SongRefError("nothing was given")
    if len(raw) > MAX_INPUT_LENGTH:
        raise SongRefError(f"the input is longer than {MAX_INPUT_LENGTH} characters")
    try:
        return _parse(raw)
    except (BadLink, LinkError) as exc:
        raise SongRefError(exc.reason) from None


def _parse(raw: str) -> SongRef:
    uri = spotify.parse_uri(raw)
    if uri is not None:
        return uri
    an_id = VIDEO_ID.fullmatch(raw) is not None and ID_LIKE.fullmatch(raw) is not None
    if an_id or looks_like_link(raw) or _is_known_host(raw):
        if an_id or is_youtube_host(split_link(raw).host):
            video = parse_link(raw)
            return SongRef("youtube", video.video_id, watch_url(video.video_id), video.start_s)
        link = split_link(raw)
        for parser in LINK_PARSERS:
            found = parser(link)
            if found is not None:
                return found
        raise BadLink(f"'{_echo(link.host)}' is not a music service earshot knows")
    if ID_LIKE.fullmatch(raw):
        raise BadLink(f"'{raw}' has {len(raw)} characters, and YouTube video ids have exactly 11")
    return words.parse(raw)


_ANY_LINK = re.compile(r"https?://[^\s<>()\[\]`]+")


def find_song_link(text: str) -> str | None:
    """The first song in a chat message that earshot can listen to: a YouTube video (as
    ``links.find_video_link`` finds it), else the first link to one song on another
    source (Spotify, Deezer, Apple Music, SoundCloud, Bandcamp)."""
    video = find_video_link(text)
    if video is not None:
        return video
    for match in _ANY_LINK.finditer(text):
        link = match.group(0).rstrip(".,!?;:'\"*_~|")
        try:
            parse_song(link)
        except SongRefError:
            continue
        return link
    return None
