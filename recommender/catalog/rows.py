"""Rows of the tracks table as Python values, and reading them without the store (the
rebuild process reads through its own connection)."""

from __future__ import annotations

from collections.abc import (
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from sqlalchemy import bindparam, column, table, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.sql.elements import TextClause

from ..audioset.tfrecord import EMBEDDING_SIZE

if TYPE_CHECKING:
    pass


@dataclass(frozen=True, slots=True)
class Track:
    id: int
    video_id: str
    start_s: float
    end_s: float
    labels: tuple[int, ...]
    source: str
    frames: np.ndarray | None = None


def _labels_text(labels: Iterable[int]) -> str:
    return " ".join(str(x) for x in labels)


def _labels_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split())


def frames_from_blob(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.uint8).reshape(-1, EMBEDDING_SIZE)


def _blob(frames: np.ndarray) -> bytes:
    return np.ascontiguousarray(frames, dtype=np.uint8).tobytes()


def _track(row: Sequence, with_frames: bool) -> Track:
    frames = frames_from_blob(row[6]) if with_frames else None
    return Track(row[0], row[1], row[2], row[3], _labels_tuple(row[4]), row[5], frames)


def _sql(statement: str, *expanding: str) -> TextClause:
    """A statement with named parameters; ``expanding`` ones take a list (``IN :ids``)."""
    clause = text(statement)
    if expanding:
        clause = clause.bindparams(*(bindparam(name, expanding=True) for name in expanding))
    return clause


# Portable SQL: ":name" parameters work in SQLAlchemy's text() and in plain sqlite3.
TRACKS_AFTER = (
    "SELECT id, video_id, start_s, end_s, labels, source, frames FROM tracks"
    " WHERE id > :after AND id <= :up_to ORDER BY id LIMIT :n"
)
_TRACKS_AFTER = _sql(TRACKS_AFTER)


class Reader(Protocol):
    def all(self, sql: str, params: Mapping[str, Any]) -> list[tuple]: ...


def read_tracks(db: Reader, up_to_id: int, chunk: int = 5000) -> Iterator[list[Track]]:
    """iter_tracks for a synchronous reader (the rebuild process), up to an id."""
    last = -1
    while True:
        rows = db.all(TRACKS_AFTER, {"after": last, "up_to": up_to_id, "n": chunk})
        if not rows:
            return
        yield [_track(r, with_frames=True) for r in rows]
        last = rows[-1][0]


_SQLITE_INSERT_CLIPS = (
    "INSERT INTO tracks (video_id, start_s, end_s, labels, frames, source)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (video_id, start_s) DO NOTHING"
)
_tracks = table(
    "tracks",
    *(column(c) for c in ("id", "video_id", "start_s", "end_s", "labels", "frames", "source")),
)
# On PostgreSQL the driver reports no count for executemany: the new rows' ids say it
# (SQLAlchemy sends the rows as multi-row INSERTs).
_PG_INSERT_CLIPS = (
    pg_insert(_tracks)
    .on_conflict_do_nothing(index_elements=["video_id", "start_s"])
    .returning(_tracks.c.id)
)
