"""A song as a member named it, before anything is fetched: which source, the song's id
there (or the words to search for), and a moment if one was linked to."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..errors import EarshotError
from ..song_keys import SOURCE_NAMES as SOURCE_NAMES

ACCEPTED_SONGS = (
    "a song's name and artist, a link to one song on YouTube, Spotify, Deezer, Apple "
    "Music, SoundCloud or Bandcamp, or a YouTube video id"
)


@dataclass(frozen=True)
class SongRef:
    source: str  # one of SOURCE_NAMES
    id: str  # the song's id at its source; for "words", the words
    url: str  # the page a member would open (for words: empty)
    start_s: float | None = None  # a moment the member linked to

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class SongRefError(EarshotError, ValueError):
    """What a member typed names no song earshot can look for; says what is accepted."""

    def __init__(self, reason: str) -> None:
        said = reason[:1].upper() + reason[1:] if reason[:1].islower() else reason
        super().__init__(f"{said}. Accepted: {ACCEPTED_SONGS}.")
        self.reason = reason


ONE_SONG = "pick one song in it and copy that song's link"


@dataclass(frozen=True)
class TrackInfo:
    """What a source says of a song: enough to name it, and where its audio is."""

    ref: SongRef
    title: str
    artist: str
    duration_s: float | None
    preview_url: str  # a 30-second excerpt ('' when the source has none for this song)
    isrc: str = ""

    @property
    def name(self) -> str:
        return f"{self.title} — {self.artist}" if self.artist else self.title


class SongNotFoundError(EarshotError):
    """The source has no such song (or no longer has it)."""
