"""SoundCloud track links, parsed without the network: ``soundcloud.com/USER/TRACK``
(also ``m.`` and ``www.``). Sets (playlists and albums), likes and profiles are no one
song. The id is ``USER/TRACK``, which yt-dlp's SoundCloud extractor resolves."""

from __future__ import annotations

import re

from ..song_keys import SONG_IDS, InvalidSongKeyError, song_key
from .reference import ONE_SONG, SongRef
from .urls import BadLink, Link

HOSTS = frozenset({"soundcloud.com", "www.soundcloud.com", "m.soundcloud.com"})
NAME = re.compile(r"[A-Za-z0-9_-]{1,100}")
NOT_TRACKS = frozenset(
    {"sets", "likes", "reposts", "tracks", "albums", "followers", "following", "comments"}
)
RESERVED_USERS = frozenset({"discover", "search", "stream", "you", "upload", "charts", "stations"})


def page(track: str) -> str:
    if not SONG_IDS["soundcloud"].fullmatch(track):
        raise InvalidSongKeyError(song_key("soundcloud", track))
    return f"https://soundcloud.com/{track}"


def parse(link: Link) -> SongRef | None:
    if link.host == "on.soundcloud.com":
        raise BadLink(
            "that is a SoundCloud share link, which earshot cannot open without following "
            "it; open it and copy the soundcloud.com/… link"
        )
    if link.host not in HOSTS:
        return None
    segments = link.segments
    if (len(segments) >= 2 and segments[1] in NOT_TRACKS) or segments[:1] == ["playlist"]:
        raise BadLink(f"that SoundCloud page is a list, not one song: {ONE_SONG}")
    if (
        len(segments) == 2
        and segments[0] not in RESERVED_USERS
        and all(NAME.fullmatch(s) for s in segments)
    ):
        track = "/".join(segments).lower()
        return SongRef("soundcloud", track, page(track))
    raise BadLink("that SoundCloud link does not name a track")
