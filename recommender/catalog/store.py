"""The earshot database: ``await Store.open(path_or_url)`` or ``Store.open_settings``.

One store over SQLite (the default, in DATA_DIR) or PostgreSQL (DATABASE_URL), through
SQLAlchemy's async core. Its methods live with their tables: ``connection`` (opening,
writes that wait out a lock or a full disk, transactions), ``tracks`` (classes, ingest,
tracks, the embedding cache), ``songs`` (the songs a server chose), ``facts`` (what
YouTube says of the videos) and ``replies`` (replies, reactions, ratings); ``db`` holds
what differs by dialect.
"""

from __future__ import annotations

from .connection import StoreCore
from .db import StoreError, is_locked
from .facts import FactsTable
from .replies import RepliesTables
from .rows import Track, frames_from_blob, read_tracks
from .schema import MIGRATIONS, SCHEMA_VERSION
from .songs import SongsTable
from .tracks import TracksTables

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Store",
    "StoreError",
    "Track",
    "frames_from_blob",
    "is_locked",
    "read_tracks",
]


class Store(TracksTables, SongsTable, FactsTable, RepliesTables, StoreCore):
    """The earshot database, every table's methods on one object."""
