"""Spotify track links, parsed without the network: ``open.spotify.com/track/ID``
(also ``/intl-xx/track/ID``, with any tracking parameters) and ``spotify:track:ID``.
Albums, playlists, artists, shows and episodes name no one song."""

from __future__ import annotations

import re

from .reference import ONE_SONG, SongRef
from .urls import BadLink, Link

HOSTS = frozenset({"open.spotify.com"})
TRACK_ID = re.compile(r"[0-9A-Za-z]{22}")  # base62
LISTS = frozenset({"album", "playlist", "artist", "show", "episode", "collection", "user"})


def page(track_id: str) -> str:
    return f"https://open.spotify.com/track/{track_id}"


def parse_uri(text: str) -> SongRef | None:
    """``spotify:track:ID``; None if the text is no Spotify URI."""
    if not text.lower().startswith("spotify:"):
        return None
    parts = text.split(":")
    if len(parts) == 3 and parts[1] == "track" and TRACK_ID.fullmatch(parts[2]):
        return SongRef("spotify", parts[2], page(parts[2]))
    if len(parts) >= 2 and parts[1] in LISTS:
        raise BadLink(f"that Spotify {parts[1]} is not one song: {ONE_SONG}")
    raise BadLink("that Spotify URI does not name a track")


def parse(link: Link) -> SongRef | None:
    if link.host not in HOSTS:
        return None
    segments = link.segments
    if segments and segments[0].startswith("intl-"):
        segments = segments[1:]
    if segments[:1] == ["embed"]:
        segments = segments[1:]
    if len(segments) == 2 and segments[0] == "track" and TRACK_ID.fullmatch(segments[1]):
        return SongRef("spotify", segments[1], page(segments[1]))
    if segments and segments[0] in LISTS:
        raise BadLink(f"that Spotify {segments[0]} is not one song: {ONE_SONG}")
    raise BadLink("that Spotify link does not name a track")
