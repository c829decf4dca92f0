"""A song named in words ("daft punk one more time"): kept as the words to search for."""

from __future__ import annotations

import unicodedata

from .reference import SongRef
from .urls import BadLink

MAX_WORDS_LENGTH = 200


def parse(text: str) -> SongRef:
    words = " ".join(text.split())
    if any(unicodedata.category(c) == "Cc" for c in words):
        raise BadLink("the words contain control characters")
    if not any(c.isalnum() for c in words):
        raise BadLink("that names no song: give its name and artist, or a link")
    if len(words) > MAX_WORDS_LENGTH:
        raise BadLink(f"that is longer than {MAX_WORDS_LENGTH} characters for a song's name")
    return SongRef("words", words, "")
