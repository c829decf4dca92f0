"""Bandcamp track links, parsed without the network: ``ARTIST.bandcamp.com/track/NAME``.
Albums are no one song. Artists' own domains cannot be told from any other site without
the network, so only ``*.bandcamp.com`` is accepted."""

from __future__ import annotations

import re

from ..song_keys import SONG_IDS, InvalidSongKeyError, song_key
from .reference import ONE_SONG, SongRef
from .urls import BadLink, Link

SUFFIX = ".bandcamp.com"
LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
NAME = re.compile(r"[A-Za-z0-9_-]{1,200}")


def page(track: str) -> str:
    if not SONG_IDS["bandcamp"].fullmatch(track):
        raise InvalidSongKeyError(song_key("bandcamp", track))
    artist, name = track.split("/", 1)
    return f"https://{artist}.bandcamp.com/track/{name}"


def parse(link: Link) -> SongRef | None:
    if not link.host.endswith(SUFFIX):
        return None
    artist = link.host[: -len(SUFFIX)]
    if not LABEL.fullmatch(artist) or artist in ("www", "daily"):
        raise BadLink("that Bandcamp link names no artist's page")
    segments = link.segments
    if len(segments) == 2 and segments[0] == "track" and NAME.fullmatch(segments[1]):
        track = f"{artist}/{segments[1]}"
        return SongRef("bandcamp", track, page(track))
    if segments[:1] == ["album"]:
        raise BadLink(f"that Bandcamp album is not one song: {ONE_SONG}")
    raise BadLink("that Bandcamp link does not name a track")
