"""Apple Music song links, parsed without the network:
``music.apple.com/CC/album/NAME/ALBUMID?i=TRACKID`` (a song on its album's page) and
``music.apple.com/CC/song/NAME/TRACKID``. An album without ``?i=`` is no one song."""

from __future__ import annotations

import re

from .reference import ONE_SONG, SongRef
from .urls import BadLink, Link

HOSTS = frozenset({"music.apple.com", "geo.music.apple.com"})
ITEM_ID = re.compile(r"\d{1,15}")
LISTS = frozenset({"album", "playlist", "artist", "station", "curator"})


def page(track_id: str) -> str:
    return f"https://music.apple.com/song/{track_id}"


def parse(link: Link) -> SongRef | None:
    if link.host not in HOSTS:
        return None
    segments = link.segments
    if segments and re.fullmatch(r"[a-z]{2}", segments[0]):  # the storefront's country
        segments = segments[1:]
    track = (link.query.get("i") or [""])[0]
    if segments[:1] == ["album"] and ITEM_ID.fullmatch(track):
        return SongRef("apple_music", track, page(track))
    if segments[:1] == ["song"] and segments and ITEM_ID.fullmatch(segments[-1]):
        return SongRef("apple_music", segments[-1], page(segments[-1]))
    if segments and segments[0] in LISTS:
        raise BadLink(f"that Apple Music {segments[0]} is not one song: {ONE_SONG}")
    raise BadLink("that Apple Music link does not name a song")
