"""The catalog's tables: AudioSet's classes, ingested files, tracks and the embedding
cache."""

from __future__ import annotations

import time
from collections.abc import (
    AsyncIterator,
    Sequence,
)
from typing import TYPE_CHECKING

import numpy as np

from ..audioset.ontology import Ontology
from ..audioset.tfrecord import ClipRecord
from ..sources.links import SongId

if TYPE_CHECKING:
    pass

from .connection import StoreCore
from .rows import (
    _PG_INSERT_CLIPS,
    _SQLITE_INSERT_CLIPS,
    _TRACKS_AFTER,
    Track,
    _blob,
    _labels_text,
    _sql,
    _track,
    frames_from_blob,
)


class TracksTables(StoreCore):
    # --- classes -------------------------------------------------------------------

    async def save_classes(self, ontology: Ontology) -> None:
        async with self.transaction():
            await self._execute(
                "INSERT INTO classes (idx, mid, name, kind, parents)"
                " VALUES (:idx, :mid, :name, :kind, :parents) ON CONFLICT (idx) DO UPDATE"
                " SET mid = excluded.mid, name = excluded.name, kind = excluded.kind,"
                " parents = excluded.parents",
                [
                    {
                        "idx": c.index,
                        "mid": c.mid,
                        "name": c.name,
                        "kind": str(c.kind),
                        "parents": _labels_text(c.parents),
                    }
                    for c in ontology.classes
                ],
            )

    async def class_names(self) -> dict[int, str]:
        return {idx: name for idx, name in await self._all("SELECT idx, name FROM classes")}

    async def class_kinds(self) -> dict[int, str]:
        return {idx: kind for idx, kind in await self._all("SELECT idx, kind FROM classes")}

    async def class_parents(self) -> dict[int, tuple[int, ...]]:
        """Each class's parents in AudioSet's ontology (empty for a catalog ingested before
        they were kept: ingesting again fills them in)."""
        rows = await self._all("SELECT idx, parents FROM classes")
        return {idx: tuple(int(p) for p in parents.split()) for idx, parents in rows}

    # --- catalog ingest ------------------------------------------------------------

    async def ingested_size(self, name: str) -> int | None:
        row = await self._one("SELECT size FROM ingested_files WHERE name = :name", {"name": name})
        return row[0] if row else None

    async def add_file(
        self,
        name: str,
        size: int,
        clips: Sequence[ClipRecord],
        source: str,
        skipped: int,
        problems: Sequence[str] = (),
    ) -> int:
        """Store one file's music clips and mark the file done, in one transaction.

        A clip already present (same video and start) is left as it is, so re-running an
        ingest, or resuming one that was killed, never duplicates a clip.
        """
        rows = [
            (c.video_id, c.start_s, c.end_s, _labels_text(c.labels), _blob(c.frames), source)
            for c in clips
        ]
        async with self.transaction() as conn:
            if not rows:
                added = 0
            elif self.database.is_sqlite:
                # The hot path of an ingest: the driver's executemany, which counts the
                # rows it inserted (SQLAlchemy's per-row parameter handling cost 40%).
                added = (await conn.exec_driver_sql(_SQLITE_INSERT_CLIPS, rows)).rowcount
            else:
                keys = ("video_id", "start_s", "end_s", "labels", "frames", "source")
                result = await conn.execute(
                    _PG_INSERT_CLIPS, [dict(zip(keys, r, strict=True)) for r in rows]
                )
                added = len(result.all())
            await conn.execute(
                _sql(
                    "INSERT INTO ingested_files (name, size, clips, skipped, problems, at)"
                    " VALUES (:name, :size, :clips, :skipped, :problems, :at)"
                    " ON CONFLICT (name) DO UPDATE SET size = excluded.size,"
                    " clips = excluded.clips, skipped = excluded.skipped,"
                    " problems = excluded.problems, at = excluded.at"
                ),
                {
                    "name": name,
                    "size": size,
                    "clips": len(clips),
                    "skipped": skipped,
                    "problems": "\n".join(problems),
                    "at": time.time(),
                },
            )
        return added

    async def add_member_track(
        self, video_id: str, frames: np.ndarray, duration_s: float | None
    ) -> None:
        """A song a member asked about joins the catalog (indexed at the next reindex).

        Its frames follow the embedding cache: a newer model's frames replace older ones.
        """
        await self._execute(
            "INSERT INTO tracks (video_id, start_s, end_s, labels, frames, source)"
            " VALUES (:video_id, 0, :end_s, '', :frames, 'member')"
            " ON CONFLICT (video_id, start_s) DO UPDATE"
            " SET frames = excluded.frames, end_s = excluded.end_s"
            " WHERE tracks.source = 'member'",
            {
                "video_id": video_id,
                "end_s": float(duration_s or len(frames)),
                "frames": _blob(frames),
            },
        )

    # --- catalog reads -------------------------------------------------------------

    async def count_tracks(self, source: str | None = None) -> int:
        if source is None:
            return (await self._one("SELECT COUNT(*) FROM tracks"))[0]
        return (await self._one("SELECT COUNT(*) FROM tracks WHERE source = :s", {"s": source}))[0]

    async def tracks_by_video(self, video_id: SongId) -> list[Track]:
        rows = await self._all(
            "SELECT id, video_id, start_s, end_s, labels, source, frames FROM tracks"
            " WHERE video_id = :v ORDER BY start_s",
            {"v": video_id},
        )
        return [_track(r, with_frames=True) for r in rows]

    async def tracks_by_ids(self, ids: Sequence[int]) -> dict[int, Track]:
        found: dict[int, Track] = {}
        for start in range(0, len(ids), 500):
            chunk = [int(i) for i in ids[start : start + 500]]
            rows = await self._all(
                _TRACKS_BY_IDS,
                {"ids": chunk},
            )
            found.update({r[0]: _track(r, with_frames=False) for r in rows})
        return found

    async def iter_tracks(self, chunk: int = 5000) -> AsyncIterator[list[Track]]:
        """Every track with its frames, in id order, a chunk at a time (bounded memory)."""
        last = -1
        while True:
            rows = await self._all(_TRACKS_AFTER, {"after": last, "up_to": 2**62, "n": chunk})
            if not rows:
                return
            yield [_track(r, with_frames=True) for r in rows]
            last = rows[-1][0]

    # --- embedding cache -----------------------------------------------------------

    async def cached_embedding(
        self, video_id: SongId, model: str
    ) -> tuple[np.ndarray, dict] | None:
        row = await self._one(
            "SELECT frames, title, channel, duration_s, heard FROM embeddings"
            " WHERE video_id = :v AND model = :m",
            {"v": video_id, "m": model},
        )
        if not row:
            return None
        meta = {"title": row[1], "channel": row[2], "duration_s": row[3], "heard": row[4]}
        return frames_from_blob(row[0]), meta

    async def cache_song(
        self,
        song: SongId,
        model: str,
        frames: np.ndarray,
        title: str,
        channel: str,
        duration_s: float | None,
        *,
        join_catalog: bool = False,
        heard: str = "",
    ) -> None:
        """Remember how a song sounds; ``join_catalog``: and add it to the catalog as a
        member's song (a preview never joins). ``heard``: 'preview' for an excerpt."""
        async with self.transaction():
            await self._execute(
                "INSERT INTO embeddings"
                " (video_id, model, frames, title, channel, duration_s, created_at, heard)"
                " VALUES (:video_id, :model, :frames, :title, :channel, :duration_s, :at,"
                " :heard)"
                " ON CONFLICT (video_id, model) DO UPDATE SET frames = excluded.frames,"
                " title = excluded.title, channel = excluded.channel,"
                " duration_s = excluded.duration_s, created_at = excluded.created_at,"
                " heard = excluded.heard",
                {
                    "video_id": song,
                    "model": model,
                    "frames": _blob(frames),
                    "title": title,
                    "channel": channel,
                    "duration_s": duration_s,
                    "at": time.time(),
                    "heard": heard,
                },
            )
            if join_catalog:
                await self.add_member_track(song, frames, duration_s)

    async def channels(self, video_ids: Sequence[str]) -> dict[str, str]:
        """Channel names of cached videos (AudioSet clips have none)."""
        if not video_ids:
            return {}
        rows = await self._all(_CHANNELS, {"ids": list(video_ids)})
        return dict(rows)

    async def ingest_summary(self) -> dict[str, int]:
        row = await self._one(
            "SELECT COUNT(*), COALESCE(SUM(skipped), 0),"
            " COALESCE(SUM(CASE WHEN problems != '' THEN 1 ELSE 0 END), 0)"
            " FROM ingested_files"
        )
        return {
            "files": row[0],
            "non_music_skipped": int(row[1]),
            "files_with_problems": int(row[2]),
        }


_TRACKS_BY_IDS = _sql(
    "SELECT id, video_id, start_s, end_s, labels, source FROM tracks WHERE id IN :ids", "ids"
)


_CHANNELS = _sql(
    "SELECT video_id, channel FROM embeddings WHERE video_id IN :ids AND channel != ''", "ids"
)
