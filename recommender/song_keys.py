"""A song's identity as one text key, at the bottom of the wings because every stage keys by
it: the store, the cache, replies, ratings, video facts and queue jobs. A YouTube video id
is its own key (no YouTube id holds a colon); any other source's song is "source:id"
("soundcloud:forss/flickermood")."""

from __future__ import annotations

import re

from .errors import EarshotError

SOURCE_NAMES = {
    "youtube": "YouTube",
    "spotify": "Spotify",
    "apple_music": "Apple Music",
    "deezer": "Deezer",
    "soundcloud": "SoundCloud",
    "bandcamp": "Bandcamp",
    "words": "a search by name",
    "song": "the server's library",  # a song added from a folder or a Subsonic server
}


# Each source's exact song id: what its parser accepts, and all that a key from anywhere
# else (a queue job, a search answer, a stored row) may name. A page is built from an id,
# so an id outside these (a host, a port, a '#' or '?') never reaches a fetch.
_NAME = r"[A-Za-z0-9_-]"
SONG_IDS: dict[str, re.Pattern[str]] = {
    "youtube": re.compile(rf"{_NAME}{{11}}"),
    "spotify": re.compile(r"[0-9A-Za-z]{22}"),  # base62
    "deezer": re.compile(r"[0-9]{1,15}"),
    "apple_music": re.compile(r"[0-9]{1,15}"),
    "soundcloud": re.compile(rf"{_NAME}{{1,100}}/{_NAME}{{1,100}}"),  # user/track
    # label/track: the artist's subdomain, then the track's name
    "bandcamp": re.compile(rf"[a-z0-9](?:[a-z0-9-]{{0,61}}[a-z0-9])?/{_NAME}{{1,200}}"),
    "song": re.compile(r"[0-9a-f]{16}"),  # song_facts.library_key
}


class InvalidSongKeyError(EarshotError):
    """A key whose id is not one its source can have: refused before anything is fetched."""

    def __init__(self, key: str) -> None:
        super().__init__("earshot cannot look that song up: its id is not one the site uses.")
        self.operator_hint = f"refused a song key that no source accepts: {key[:120]!r}"
        self.key = key

    def __reduce__(self) -> tuple:
        return type(self), (self.key,)


def song_key(source: str, song: str) -> str:
    """A song's identity as one text key, in the store, the cache, replies and jobs: a
    YouTube id as it is (no YouTube id holds a colon), else "source:id"."""
    return song if source == "youtube" else f"{source}:{song}"


def split_key(key: str) -> tuple[str, str]:
    """(source, id) of a song key."""
    head, colon, rest = key.partition(":")
    if colon and head in SOURCE_NAMES and head not in ("youtube", "words"):
        return head, rest
    return "youtube", key


def is_youtube(key: str) -> bool:
    return split_key(key)[0] == "youtube"


def checked_key(key: str) -> tuple[str, str]:
    """(source, id) of a key whose id its source's exact pattern accepts."""
    source, song = split_key(key)
    if not SONG_IDS[source].fullmatch(song):
        raise InvalidSongKeyError(key)
    return source, song


def is_valid_key(key: object) -> bool:
    if not isinstance(key, str):
        return False
    try:
        checked_key(key)
    except InvalidSongKeyError:
        return False
    return True
