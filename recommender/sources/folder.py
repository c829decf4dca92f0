"""An owner's music folder: its audio files, read recursively, each with what its tags say
(artist, title, album, length, ISRC), by mutagen. A file without tags is named by its file
name ("Artist - Title.mp3"). Nothing here decodes audio: whether a file is audio at all is
for the listener to find out, as it is for a member's upload."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

import mutagen

from ..song_facts import SongFound, fact_text, isrc_or_empty

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = frozenset({".mp3", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".wav"})

_ARTIST_TITLE = re.compile(r"^\s*(?:\d{1,3}[\s.\-_]+)?(?P<artist>.+?)\s+[-–—]\s+(?P<title>.+?)\s*$")


def audio_files(folder: Path) -> Iterator[Path]:
    """Every audio file under ``folder``, in a stable order (by path), following no
    symbolic link out of it and never the same file twice."""
    root = folder.resolve()
    seen: set[tuple[int, int]] = set()
    for parent, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            path = Path(parent) / name
            if path.suffix.lower() not in AUDIO_SUFFIXES or name.startswith("._"):
                continue  # "._x.mp3": macOS's resource forks beside the real file
            try:
                st = path.stat()
                inside = path.resolve().is_relative_to(root)
            except OSError:
                continue  # a broken link, or a file gone since the walk saw it
            if not inside or (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            yield path


def _first(tags: object, *names: str) -> str:
    for name in names:
        try:
            values = tags[name]  # type: ignore[index]
        except (KeyError, ValueError, TypeError):
            continue
        if isinstance(values, str):
            values = [values]
        for value in values or ():
            text = fact_text(value)
            if text:
                return text
    return ""


# Where formats keep an ISRC that mutagen's easy tags do not map: ID3's user text frame
# (ffmpeg and some taggers write it so) and MP4's iTunes freeform atom.
_RAW_ISRC_KEYS = ("TSRC", "TXXX:ISRC", "----:com.apple.iTunes:ISRC")


def _raw_isrc(path: Path) -> str:
    try:
        audio = mutagen.File(path)
    except Exception:
        return ""
    tags = getattr(audio, "tags", None)
    if tags is None:
        return ""
    for key in _RAW_ISRC_KEYS:
        value = tags.get(key)
        if value is None:
            continue
        text = getattr(value, "text", value)  # an ID3 frame, or MP4's list of bytes
        first = text[0] if isinstance(text, list) and text else text
        if isinstance(first, bytes):
            first = first.decode("utf-8", "replace")
        code = isrc_or_empty(str(first))
        if code:
            return code
    return ""


def from_file_name(path: Path) -> tuple[str, str]:
    """(artist, title) from a file name: "01 - Artist - Title.mp3", "Artist - Title.flac",
    or the name alone as the title."""
    stem = " ".join(path.stem.replace("_", " ").split())
    match = _ARTIST_TITLE.match(stem)
    if match:
        return match["artist"], match["title"]
    return "", stem


def read_song(path: Path) -> SongFound:
    """What a file's tags say of its song; a file mutagen cannot read (damaged, or not
    audio) keeps its file name and no length, and the listener decides."""
    artist = title = album = isrc = ""
    duration_s: float | None = None
    try:
        audio = mutagen.File(path, easy=True)
    except Exception as exc:  # mutagen raises many kinds on damaged files
        log.debug("%s: tags unreadable (%s)", path, exc)
        audio = None
    if audio is not None:
        tags = audio.tags or {}
        artist = _first(tags, "artist", "albumartist", "performer")
        title = _first(tags, "title")
        album = _first(tags, "album")
        isrc = isrc_or_empty(_first(tags, "isrc")) or _raw_isrc(path)
        length = getattr(getattr(audio, "info", None), "length", None)
        if isinstance(length, int | float) and length > 0:
            duration_s = float(length)
    if not title:
        named_artist, title = from_file_name(path)
        artist = artist or named_artist
    return SongFound(
        origin=str(path.resolve()),
        artist=artist,
        title=title,
        album=album,
        duration_s=duration_s,
        isrc=isrc,
        display_name=path.name,
    )
