"""Where a song plays, by its key (``reference.song_key``): a YouTube video at a moment,
or a SoundCloud or Bandcamp track's own page. Only these join the catalog and so are
ever suggested (a preview never joins), beside the server's library songs, whose link
(a video found for them, or a search) their ``songs`` row gives."""

from __future__ import annotations

from ..song_keys import checked_key
from . import bandcamp, soundcloud
from .links import watch_url


def song_page(key: str, start_s: float | None = None) -> str:
    source, song = checked_key(key)
    if source == "soundcloud":
        moment = int(start_s or 0)
        at = f"#t={moment // 60}:{moment % 60:02d}" if moment else ""
        return soundcloud.page(song) + at
    if source == "bandcamp":
        return bandcamp.page(song)
    if source == "song":  # a library's song has no page of its own: its row says where
        return ""
    return watch_url(song, start_s)
