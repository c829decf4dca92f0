"""A song's identity as one text key, at the bottom of the wings because every stage keys by
it: the store, the cache, replies, ratings, video facts and queue jobs. A YouTube video id
is its own key (no YouTube id holds a colon); any other source's song is "source:id"
("soundcloud:forss/flickermood")."""

from __future__ import annotations

SOURCE_NAMES = {
    "youtube": "YouTube",
    "spotify": "Spotify",
    "apple_music": "Apple Music",
    "deezer": "Deezer",
    "soundcloud": "SoundCloud",
    "bandcamp": "Bandcamp",
    "words": "a search by name",
}


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
