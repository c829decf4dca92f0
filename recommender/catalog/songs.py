"""The songs a server chose: what members read of them, and their frames as a track.

A song is stored whole or not at all: its ``songs`` row and its ``tracks`` row (source
'song', ``video_id`` its key) are written in one transaction, and only after it was
heard, so a stopped ``add`` leaves nothing half-done and its next run goes on from there.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from ..song_facts import Song, SongFound
from .connection import StoreCore
from .rows import _blob, _sql

SONG_SOURCE = "song"  # tracks.source of a song's frames

_COLUMNS = (
    "song_key, source, origin, artist, title, album, duration_s, isrc, video_id, link_checked_at"
)


def _song(row: Sequence) -> Song:
    return Song(*row)


class SongsTable(StoreCore):
    async def song_origins(self, source: str) -> set[str]:
        """Where the songs already added from ``source`` were heard (a run skips them)."""
        rows = await self._all("SELECT origin FROM songs WHERE source = :s", {"s": source})
        return {origin for (origin,) in rows}

    async def same_song(self, found: SongFound, duration_s: float | None) -> Song | None:
        """The catalog's song that is this recording (the same ISRC, or the same artist and
        title with lengths within 2 s), if there is one."""
        clauses, params = [], {}
        if found.isrc:
            clauses.append("isrc = :isrc")
            params["isrc"] = found.isrc
        if found.name_key:
            clauses.append("name_key = :name")
            params["name"] = found.name_key
        if not clauses:
            return None
        rows = await self._all(f"SELECT {_COLUMNS} FROM songs WHERE {' OR '.join(clauses)}", params)
        return next((s for s in map(_song, rows) if s.same_recording(found, duration_s)), None)

    async def add_song(
        self,
        key: str,
        source: str,
        found: SongFound,
        frames: np.ndarray,
        duration_s: float | None,
    ) -> Song | None:
        """Store a heard song and its frames, in one transaction; returns the song already
        there instead (same origin, or the same recording: see ``same_song``), storing
        nothing. A member's song with this key becomes the server's song."""
        async with self.transaction():
            known = await self._one(
                f"SELECT {_COLUMNS} FROM songs WHERE song_key = :k"
                " OR (source = :s AND origin = :o)",
                {"k": key, "s": source, "o": found.origin},
            )
            if known:
                return _song(known)
            same = await self.same_song(found, duration_s)
            if same is not None:
                return same
            await self._execute(
                "INSERT INTO songs (song_key, source, origin, artist, title, album,"
                " duration_s, isrc, name_key, added_at) VALUES (:key, :source, :origin,"
                " :artist, :title, :album, :duration_s, :isrc, :name_key, :at)",
                {
                    "key": key,
                    "source": source,
                    "origin": found.origin,
                    "artist": found.artist,
                    "title": found.title,
                    "album": found.album,
                    "duration_s": duration_s,
                    "isrc": found.isrc,
                    "name_key": found.name_key,
                    "at": time.time(),
                },
            )
            await self._execute(
                "INSERT INTO tracks (video_id, start_s, end_s, labels, frames, source)"
                " VALUES (:key, 0, :end_s, '', :frames, :source)"
                " ON CONFLICT (video_id, start_s) DO UPDATE SET frames = excluded.frames,"
                " end_s = excluded.end_s, source = excluded.source"
                " WHERE tracks.source = 'member'",
                {
                    "key": key,
                    "end_s": float(duration_s or len(frames) * 0.96),
                    "frames": _blob(frames),
                    "source": SONG_SOURCE,
                },
            )
        return None

    async def song_track_ids(self) -> frozenset[int]:
        """The tracks that are the server's songs (SUGGEST_FROM picks among them)."""
        rows = await self._all("SELECT id FROM tracks WHERE source = :s", {"s": SONG_SOURCE})
        return frozenset(int(i) for (i,) in rows)

    async def songs_of(self, keys: Sequence[str]) -> dict[str, Song]:
        """The catalog's songs among these keys (the rest are clips or members' songs)."""
        found: dict[str, Song] = {}
        unique = list(dict.fromkeys(keys))
        for first in range(0, len(unique), 500):
            rows = await self._all(_SONGS_OF, {"keys": unique[first : first + 500]})
            found.update({row[0]: _song(row) for row in rows})
        return found

    async def songs_to_link(self, after: str, limit: int, older_than: float) -> list[Song]:
        """Library songs (keyed "song:") with no video looked for yet, or none found
        before ``older_than``, in key order after ``after`` (a keyset cursor)."""
        rows = await self._all(
            f"SELECT {_COLUMNS} FROM songs WHERE song_key > :after AND song_key LIKE 'song:%'"
            " AND video_id = '' AND (link_checked_at IS NULL OR link_checked_at < :older)"
            " ORDER BY song_key LIMIT :n",
            {"after": after, "older": older_than, "n": limit},
        )
        return [_song(r) for r in rows]

    async def count_songs_to_link(self, older_than: float) -> int:
        row = await self._one(
            "SELECT COUNT(*) FROM songs WHERE song_key LIKE 'song:%' AND video_id = ''"
            " AND (link_checked_at IS NULL OR link_checked_at < :older)",
            {"older": older_than},
        )
        return int(row[0])

    async def save_song_link(self, key: str, video_id: str, at: float) -> None:
        """The YouTube video found for a song ('' none), and when it was looked for."""
        await self._execute(
            "UPDATE songs SET video_id = :v, link_checked_at = :at WHERE song_key = :k",
            {"v": video_id, "at": at, "k": key},
        )

    async def song_counts(self) -> tuple[dict[str, int], int]:
        """Songs by source, and how many of the library's have no video to link to (a
        playlist's songs play on their own page)."""
        rows = await self._all("SELECT source, COUNT(*) FROM songs GROUP BY source")
        unlinked = await self._one(
            "SELECT COUNT(*) FROM songs WHERE video_id = '' AND song_key LIKE 'song:%'"
        )
        return {source: int(n) for source, n in rows}, int(unlinked[0])


_SONGS_OF = _sql(f"SELECT {_COLUMNS} FROM songs WHERE song_key IN :keys", "keys")
