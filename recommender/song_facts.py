"""What a catalog song is: the facts a source gives of it (artist, title, album, length,
ISRC, where it was found), its key, and when two names are one recording. A leaf module of
records, shared by the sources that find songs, the listening that hears them and the
catalog that keeps them."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote_plus

SAME_LENGTH_S = 2.0  # one recording named twice: the same artist and title, lengths this close
MAX_FACT_LENGTH = 300  # a longer artist, title or album is noise (or an attack on the reply)
YOUTUBE_MUSIC_SEARCH = "https://music.youtube.com/search?q="

_ISRC = re.compile(r"[A-Z]{2}[A-Z0-9]{3}[0-9]{7}")


def fact_text(value: object) -> str:
    """A source's artist, title or album as one line of at most MAX_FACT_LENGTH
    characters ('' for nothing)."""
    return " ".join(str(value).split())[:MAX_FACT_LENGTH] if value else ""


def isrc_or_empty(text: str) -> str:
    """An ISRC as its 12 characters ("US-RC1-76-07839" -> "USRC17607839"), or '' for
    anything that is not one."""
    code = re.sub(r"[\s-]", "", text or "").upper()
    return code if _ISRC.fullmatch(code) else ""


def name_key(artist: str, title: str) -> str:
    """Artist and title as one comparable text: case, accents, punctuation and spacing
    left out ("Beyoncé - Halo!" and "beyonce  halo" match)."""
    plain = unicodedata.normalize("NFKD", f"{artist} \x1f {title}".casefold())
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    plain = plain.replace("&", " and ")
    return " ".join(re.sub(r"[^\w\x1f]+", " ", plain).split())


@dataclass(frozen=True)
class SongFound:
    """A song a source found, before it is heard: ``origin`` says where its audio is (a
    file's path, a server's song, a page) and is unique within its source."""

    origin: str
    artist: str = ""
    title: str = ""
    album: str = ""
    duration_s: float | None = None
    isrc: str = ""
    display_name: str = ""  # how the operator's summary names it (a file's name)

    @property
    def name_key(self) -> str:
        return name_key(self.artist, self.title) if self.title else ""

    @property
    def shown(self) -> str:
        return self.display_name or display(self.artist, self.title) or self.origin


def library_key(source: str, origin: str) -> str:
    """The key of a song heard from the owner's library (a folder, a Subsonic server):
    stable for the same origin, so running an add again finds what it already did."""
    digest = hashlib.sha256(f"{source}\x1f{origin}".encode()).hexdigest()[:16]
    return f"song:{digest}"


def display(artist: str, title: str) -> str:
    """How members read a song: "artist — title", or the title alone."""
    return f"{artist} — {title}" if artist and title else title or artist


def search_link(artist: str, title: str) -> str:
    """A YouTube Music search for the song, for a song with no video found."""
    return YOUTUBE_MUSIC_SEARCH + quote_plus(f"{artist} {title}".strip())


@dataclass(frozen=True)
class Song:
    """A song in the catalog, as stored."""

    key: str
    source: str  # "folder", "subsonic", or the site a playlist came from
    origin: str
    artist: str
    title: str
    album: str
    duration_s: float | None
    isrc: str
    video_id: str = ""  # the YouTube video found for it ('' none)
    link_checked_at: float | None = None  # when a video was looked for (None: not yet)

    @property
    def shown(self) -> str:
        return display(self.artist, self.title)

    def same_recording(self, other: SongFound, duration_s: float | None) -> bool:
        if self.isrc and other.isrc:
            return self.isrc == other.isrc
        if not self.title or name_key(self.artist, self.title) != other.name_key:
            return False
        if self.duration_s is None or duration_s is None:
            return True  # named alike, and nothing says they differ
        return abs(self.duration_s - duration_s) <= SAME_LENGTH_S
