"""A song as earshot heard it, and from where."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Heard:
    """``source``: 'catalog', 'cache', 'download' or 'preview'."""

    frames: np.ndarray
    source: str
    labels: list[int]  # AudioSet's own, for a catalog clip
    title: str = ""
    channel: str = ""  # a YouTube channel, or the artist a source names
    start_s: float = 0.0  # where it was heard from in its video (a catalog clip's start)
    key: str = ""  # the song's key in the cache and replies ('' : the YouTube id asked)
    url: str = ""  # the song's own page, for a source other than YouTube
    heard_from: str = ""  # for the reply, where not YouTube: "Deezer preview, 30 s"
    searched: bool = False  # found by a YouTube search
