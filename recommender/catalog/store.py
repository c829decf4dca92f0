"""Storage: the catalog, the embedding cache and ratings, with forward migrations.

One store over SQLite (the default, in DATA_DIR) or PostgreSQL (DATABASE_URL, shared by
several processes), through SQLAlchemy's async core; ``db.py`` holds what differs by
dialect (engines, migrations, which errors are worth waiting out) and the SQL here is
portable: named parameters, ``ON CONFLICT`` upserts.

SQLite: WAL mode so readers never block the writer; every multi-row change in one
``BEGIN IMMEDIATE`` transaction; the schema version in ``PRAGMA user_version``.
PostgreSQL: a pool, a transaction per write method, the version in ``earshot_schema``.
Writes that must not be lost while another process holds the database locked (ratings,
replies, members' songs) go through ``write_behind``: queued in order in memory and
written as soon as the lock goes (on PostgreSQL: as soon as the server answers again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from sqlalchemy import bindparam, column, table, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import TextClause

from ..audioset.ontology import Ontology
from ..audioset.tfrecord import EMBEDDING_SIZE, ClipRecord
from ..disk import describe_free, is_disk_full
from ..errors import BusyError
from ..ratings import Community, Reply, rating_from_reactions
from ..video_facts import Status, VideoFacts
from .db import MIGRATIONS, SCHEMA_VERSION, Database, StoreError, is_locked

if TYPE_CHECKING:
    from ..config import Settings

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

log = logging.getLogger(__name__)

MAX_PENDING_WRITES = 10_000  # queued while locked; past this, callers are told "busy"
FLUSH_ON_CLOSE_S = 15.0  # how long close() waits for queued writes

# The connection of the write transaction this task is in, per store (tasks that share
# a store each have their own).
_IN_TRANSACTION: ContextVar[tuple[Store, AsyncConnection] | None] = ContextVar(
    "earshot_store_transaction", default=None
)


class _DriverSQL:
    """SQL in the driver's own parameter style (``?`` on SQLite), on the current write
    transaction's connection or the store's own: for scripts that fill tables directly
    (the benchmark). The store's methods use portable SQL instead."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def execute(self, sql: str, params: Sequence = ()) -> None:
        async with self._store._connection() as conn:
            await conn.exec_driver_sql(sql, tuple(params))

    async def executemany(self, sql: str, rows: Iterable[Sequence]) -> None:
        async with self._store._connection() as conn:
            await conn.exec_driver_sql(sql, [tuple(r) for r in rows])


class Store:
    """The earshot database. ``await Store.open(path_or_url)`` or ``open_settings``."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.path: Path | None = database.path  # None on PostgreSQL
        self.where = database.where
        self.db = _DriverSQL(self)
        self._read_engine = (
            database.engine
            if database.is_sqlite  # the driver is in autocommit already
            else database.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self._write_lock = asyncio.Lock()
        self._pending: deque[tuple[Callable[..., Awaitable[Any]], tuple]] = deque()
        self._flusher: asyncio.Task[None] | None = None
        self._waiting_for = ""  # why queued writes wait, for the log
        # Only PostgreSQL locks the reply row: SQLite has one writer at a time anyway.
        self._reply_guild = _sql(
            "SELECT guild_id FROM replies WHERE message_id = :m"
            + ("" if database.is_sqlite else " FOR UPDATE")
        )

    @classmethod
    async def open(cls, target: str | Path, busy_timeout_s: float = 5.0) -> Store:
        """A SQLite file (a Path, or a path string) or a postgresql:// URL; the schema is
        migrated forward on open."""
        database = Database.create(target, busy_timeout_s)
        try:
            await database.migrate()
        except BaseException:
            await database.dispose()
            raise
        return cls(database)

    @classmethod
    async def open_settings(cls, settings: Settings) -> Store:
        """DATABASE_URL if set, else the SQLite file in DATA_DIR."""
        return await cls.open(
            settings.database_url or settings.database_path, settings.db_busy_timeout_s
        )

    @property
    def dialect(self) -> str:
        return self.database.dialect

    async def close(self) -> None:
        if self._flusher is not None and not self._flusher.done():
            try:  # a last chance for queued writes before the connection closes
                await asyncio.wait_for(asyncio.shield(self._flusher), FLUSH_ON_CLOSE_S)
            except TimeoutError:
                log.error(
                    "%d queued writes could not be saved before earshot stopped: %s",
                    len(self._pending),
                    self._waiting_for,
                )
                self._flusher.cancel()
        await self.database.dispose()

    # --- writes that wait out another process's lock ---------------------------------

    async def write_behind(self, write: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """``await write(*args)`` now if it can be; if another process holds the database
        locked past the busy timeout (PostgreSQL: the server cannot be reached), queue it
        (in order, behind any queued before) and write it as soon as the lock goes.
        Returns what the write returned, or True when queued."""
        if not self._pending:
            try:
                return await write(*args)
            except Exception as exc:
                if not self.database.is_transient(exc):
                    raise
                self._waiting_for = self._why_waiting(exc)
                log.warning("%s; writes wait in memory until then", self._waiting_for)
        if len(self._pending) >= MAX_PENDING_WRITES:
            raise BusyError("The database is busy; try again in a minute.")
        self._pending.append((write, args))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return True

    def _why_waiting(self, error: BaseException) -> str:
        """What a queued write waits for, for the operator's log."""
        if is_disk_full(error):
            where = describe_free(self.path) if self.path else f"the database server {self.where}"
            return f"{where} is full: free some space there"
        if self.database.is_sqlite:
            return "the database is locked by another process"
        return f"the database is unavailable ({error})"

    async def _flush(self) -> None:
        delay = 0.5
        while self._pending:
            write, args = self._pending[0]
            try:
                await write(*args)
            except Exception as exc:
                if not self.database.is_transient(exc):
                    log.exception("dropping a queued write that cannot succeed")
                    self._pending.popleft()
                    continue
                reason = self._why_waiting(exc)
                if reason != self._waiting_for:  # once per cause, not once per retry
                    log.warning("%d writes waiting: %s", len(self._pending), reason)
                    self._waiting_for = reason
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            self._pending.popleft()
            delay = 0.5
        self._waiting_for = ""
        log.info("queued writes are all in the database")

    @property
    def pending_writes(self) -> int:
        return len(self._pending)

    # --- connections and transactions -------------------------------------------------

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection]:
        """The current write transaction's connection, or one for a read on its own."""
        current = _IN_TRANSACTION.get()
        if current is not None and current[0] is self:
            yield current[1]
            return
        async with self._read_engine.connect() as conn:  # a read needs no transaction
            yield conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction. SQLite: one at a time on the store's connection, as
        ``BEGIN IMMEDIATE`` (tasks that share it would otherwise start a transaction
        inside another's). PostgreSQL: each on a pooled connection. Inside it, the
        store's methods join it."""
        current = _IN_TRANSACTION.get()
        if current is not None and current[0] is self:
            yield current[1]
            return
        if self.database.is_sqlite:
            async with self._write_lock, self.database.engine.connect() as conn:
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
                token = _IN_TRANSACTION.set((self, conn))
                try:
                    yield conn
                except BaseException:
                    await conn.exec_driver_sql("ROLLBACK")
                    raise
                finally:
                    _IN_TRANSACTION.reset(token)
                try:
                    await conn.exec_driver_sql("COMMIT")
                except BaseException:  # e.g. no room for the WAL: leave no transaction open
                    with contextlib.suppress(Exception):
                        await conn.exec_driver_sql("ROLLBACK")
                    raise
            return
        async with self.database.engine.begin() as conn:
            token = _IN_TRANSACTION.set((self, conn))
            try:
                yield conn
            finally:
                _IN_TRANSACTION.reset(token)

    async def _execute(self, sql: str | TextClause, params: Any = None) -> Any:
        """A statement (``params`` a list of mappings runs it once per row)."""
        clause = text(sql) if isinstance(sql, str) else sql
        async with self._connection() as conn:
            return await conn.execute(clause, params)

    async def _one(self, sql: str | TextClause, params: Mapping[str, Any] | None = None) -> tuple:
        clause = text(sql) if isinstance(sql, str) else sql
        async with self._connection() as conn:
            row = (await conn.execute(clause, params)).first()
        return tuple(row) if row is not None else ()

    async def _all(
        self, sql: str | TextClause, params: Mapping[str, Any] | None = None
    ) -> list[tuple]:
        clause = text(sql) if isinstance(sql, str) else sql
        async with self._connection() as conn:
            return [tuple(r) for r in (await conn.execute(clause, params)).all()]

    async def schema_version(self) -> int:
        async with self._connection() as conn:
            return await self.database.schema_version(conn)

    # --- classes -------------------------------------------------------------------

    async def save_classes(self, ontology: Ontology) -> None:
        async with self.transaction():
            await self._execute(
                "INSERT INTO classes (idx, mid, name, kind) VALUES (:idx, :mid, :name, :kind)"
                " ON CONFLICT (idx) DO UPDATE"
                " SET mid = excluded.mid, name = excluded.name, kind = excluded.kind",
                [
                    {"idx": c.index, "mid": c.mid, "name": c.name, "kind": str(c.kind)}
                    for c in ontology.classes
                ],
            )

    async def class_names(self) -> dict[int, str]:
        return {idx: name for idx, name in await self._all("SELECT idx, name FROM classes")}

    async def class_kinds(self) -> dict[int, str]:
        return {idx: kind for idx, kind in await self._all("SELECT idx, kind FROM classes")}

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

    async def tracks_by_video(self, video_id: str) -> list[Track]:
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

    async def cached_embedding(self, video_id: str, model: str) -> tuple[np.ndarray, dict] | None:
        row = await self._one(
            "SELECT frames, title, channel, duration_s FROM embeddings"
            " WHERE video_id = :v AND model = :m",
            {"v": video_id, "m": model},
        )
        if not row:
            return None
        meta = {"title": row[1], "channel": row[2], "duration_s": row[3]}
        return frames_from_blob(row[0]), meta

    async def cache_song_and_add_to_catalog(
        self,
        video_id: str,
        model: str,
        frames: np.ndarray,
        title: str,
        channel: str,
        duration_s: float | None,
    ) -> None:
        async with self.transaction():
            await self._execute(
                "INSERT INTO embeddings"
                " (video_id, model, frames, title, channel, duration_s, created_at)"
                " VALUES (:video_id, :model, :frames, :title, :channel, :duration_s, :at)"
                " ON CONFLICT (video_id, model) DO UPDATE SET frames = excluded.frames,"
                " title = excluded.title, channel = excluded.channel,"
                " duration_s = excluded.duration_s, created_at = excluded.created_at",
                {
                    "video_id": video_id,
                    "model": model,
                    "frames": _blob(frames),
                    "title": title,
                    "channel": channel,
                    "duration_s": duration_s,
                    "at": time.time(),
                },
            )
            await self.add_member_track(video_id, frames, duration_s)

    async def channels(self, video_ids: Sequence[str]) -> dict[str, str]:
        """Channel names of cached videos (AudioSet clips have none)."""
        if not video_ids:
            return {}
        rows = await self._all(_CHANNELS, {"ids": list(video_ids)})
        return dict(rows)

    # --- what YouTube says of the videos (oEmbed) -------------------------------------

    async def save_facts(self, facts: Iterable[VideoFacts]) -> None:
        rows = [
            {
                "video_id": f.video_id,
                "status": str(f.status),
                "title": f.title,
                "channel": f.channel,
                "at": f.checked_at,
            }
            for f in facts
        ]
        if not rows:
            return
        async with self.transaction():
            await self._execute(
                "INSERT INTO video_facts (video_id, status, title, channel, checked_at)"
                " VALUES (:video_id, :status, :title, :channel, :at)"
                " ON CONFLICT (video_id) DO UPDATE SET status = excluded.status,"
                " title = excluded.title, channel = excluded.channel,"
                " checked_at = excluded.checked_at",
                rows,
            )

    async def facts_of(self, video_ids: Sequence[str]) -> dict[str, VideoFacts]:
        found: dict[str, VideoFacts] = {}
        unique = list(dict.fromkeys(video_ids))
        for first in range(0, len(unique), 500):
            part = unique[first : first + 500]
            for video, status, title, channel, at in await self._all(_FACTS_OF, {"ids": part}):
                found[video] = VideoFacts(video, Status(status), title, channel, at)
        return found

    async def videos_never_checked(self, after: str, limit: int) -> list[str]:
        """Catalog videos with no facts yet, in id order after ``after`` (a keyset cursor:
        each batch of a sweep starts where the last ended, on the tracks index)."""
        rows = await self._all(
            "SELECT DISTINCT t.video_id FROM tracks t WHERE t.video_id > :after"
            " AND NOT EXISTS (SELECT 1 FROM video_facts f WHERE f.video_id = t.video_id)"
            " ORDER BY t.video_id LIMIT :n",
            {"after": after, "n": limit},
        )
        return [v for (v,) in rows]

    async def videos_checked_before(self, stale_before: float, limit: int) -> list[str]:
        """Videos whose facts are older than ``stale_before``, oldest first."""
        rows = await self._all(
            "SELECT video_id FROM video_facts WHERE checked_at < :before"
            " ORDER BY checked_at LIMIT :n",
            {"before": stale_before, "n": limit},
        )
        return [v for (v,) in rows]

    async def count_to_verify(self, stale_before: float) -> int:
        never = await self._one(
            "SELECT COUNT(DISTINCT t.video_id) FROM tracks t LEFT JOIN video_facts f"
            " ON f.video_id = t.video_id WHERE f.video_id IS NULL"
        )
        stale = await self._one(
            "SELECT COUNT(*) FROM video_facts WHERE checked_at < :before",
            {"before": stale_before},
        )
        return never[0] + stale[0]

    async def verification_counts(self) -> dict[str, int]:
        """Catalog videos by what YouTube last said of them ("unchecked" for the rest)."""
        rows = await self._all(
            "SELECT COALESCE(f.status, 'unchecked'), COUNT(*) FROM"
            " (SELECT DISTINCT video_id FROM tracks) t"
            " LEFT JOIN video_facts f ON f.video_id = t.video_id GROUP BY 1"
        )
        counts = {"live": 0, "restricted": 0, "gone": 0, "unchecked": 0}
        counts.update(dict(rows))
        return counts

    async def count_embeddings(self) -> int:
        return (await self._one("SELECT COUNT(*) FROM embeddings"))[0]

    # --- replies and ratings -------------------------------------------------------

    async def record_reply(self, reply: Reply) -> None:
        """Which suggestion stands at which position of a reply, for later reactions.

        Recording a message again replaces it whole: its items, reactions and ratings
        go with the old record (the foreign keys cascade)."""
        r = reply
        async with self.transaction():
            await self._execute("DELETE FROM replies WHERE message_id = :m", {"m": r.message_id})
            await self._execute(
                "INSERT INTO replies"
                " (message_id, guild_id, channel_id, user_id, query_video, created_at)"
                " VALUES (:m, :guild, :channel, :user, :query, :at)",
                {
                    "m": r.message_id,
                    "guild": r.guild_id,
                    "channel": r.channel_id,
                    "user": r.user_id,
                    "query": r.query_video,
                    "at": time.time(),
                },
            )
            items = [
                {"m": r.message_id, "position": n, "track": int(track), "video": video}
                for n, (track, video) in enumerate(r.items, 1)
            ]
            if items:
                await self._execute(
                    "INSERT INTO reply_items (message_id, position, track_id, video_id)"
                    " VALUES (:m, :position, :track, :video)"
                    " ON CONFLICT (message_id, position) DO UPDATE"
                    " SET track_id = excluded.track_id, video_id = excluded.video_id",
                    items,
                )

    async def set_reaction(
        self, user_id: int, message_id: int, reaction: str, present: bool
    ) -> bool:
        """Record a reaction added or removed and re-derive that member's ratings of the
        reply, in one transaction. False if the message is not an earshot reply."""
        key = {"u": user_id, "m": message_id, "r": reaction}
        async with self.transaction():
            reply = await self._one(self._reply_guild, {"m": message_id})
            if not reply:
                return False
            if present:
                await self._execute(
                    "INSERT INTO reactions (user_id, message_id, reaction, created_at)"
                    " VALUES (:u, :m, :r, :at) ON CONFLICT DO NOTHING",
                    {**key, "at": time.time()},
                )
            else:
                await self._execute(
                    "DELETE FROM reactions"
                    " WHERE user_id = :u AND message_id = :m AND reaction = :r",
                    key,
                )
            await self._rederive(user_id, message_id, reply[0])
        return True

    async def recent_replies(self, since: float) -> list[tuple[int, int, int | None]]:
        """(message, channel, guild) of the replies posted since ``since``, newest first."""
        return await self._all(
            "SELECT message_id, channel_id, guild_id FROM replies WHERE created_at >= :since"
            " ORDER BY created_at DESC",
            {"since": since},
        )

    async def replace_reactions(self, message_id: int, by_user: dict[int, set[str]]) -> int:
        """Make the stored reactions on a reply exactly ``by_user`` (what Discord shows
        now), re-deriving the ratings of every member whose reactions changed, in one
        transaction. Returns how many members changed; nothing is counted twice."""
        changed = 0
        async with self.transaction():
            reply = await self._one(self._reply_guild, {"m": message_id})
            if not reply:
                return 0
            stored: dict[int, set[str]] = {}
            for user, reaction in await self._all(
                "SELECT user_id, reaction FROM reactions WHERE message_id = :m",
                {"m": message_id},
            ):
                stored.setdefault(user, set()).add(reaction)
            for user in set(stored) | set(by_user):
                now_set = by_user.get(user, set())
                if stored.get(user, set()) == now_set:
                    continue
                changed += 1
                await self._execute(
                    "DELETE FROM reactions WHERE user_id = :u AND message_id = :m",
                    {"u": user, "m": message_id},
                )
                if now_set:
                    await self._execute(
                        "INSERT INTO reactions (user_id, message_id, reaction, created_at)"
                        " VALUES (:u, :m, :r, :at)",
                        [
                            {"u": user, "m": message_id, "r": r, "at": time.time()}
                            for r in sorted(now_set)
                        ],
                    )
                await self._rederive(user, message_id, reply[0])
        return changed

    async def _rederive(self, user_id: int, message_id: int, guild_id: int | None) -> None:
        """A member's ratings of one reply, from their reactions on it (in a transaction)."""
        key = {"u": user_id, "m": message_id}
        reactions = {
            r
            for (r,) in await self._all(
                "SELECT reaction FROM reactions WHERE user_id = :u AND message_id = :m", key
            )
        }
        items = await self._all(
            "SELECT position, track_id, video_id FROM reply_items WHERE message_id = :m",
            {"m": message_id},
        )
        wanted = {
            position: (track, video, value)
            for position, track, video in items
            if (value := rating_from_reactions(position, reactions)) != 0
        }
        current = dict(
            await self._all(
                "SELECT position, value FROM ratings WHERE user_id = :u AND message_id = :m",
                key,
            )
        )
        for position in set(current) - set(wanted):
            await self._execute(
                "DELETE FROM ratings WHERE user_id = :u AND message_id = :m AND position = :p",
                {**key, "p": position},
            )
        now = time.time()
        for position, (track, video, value) in wanted.items():
            if current.get(position) == value:
                continue  # unchanged: keeps its original time
            await self._execute(
                "INSERT INTO ratings (user_id, guild_id, message_id, position,"
                " track_id, video_id, value, created_at)"
                " VALUES (:u, :g, :m, :p, :track, :video, :value, :at)"
                " ON CONFLICT (user_id, message_id, position) DO UPDATE"
                " SET guild_id = excluded.guild_id, track_id = excluded.track_id,"
                " video_id = excluded.video_id, value = excluded.value,"
                " created_at = excluded.created_at",
                {
                    **key,
                    "g": guild_id,
                    "p": position,
                    "track": track,
                    "video": video,
                    "value": value,
                    "at": now,
                },
            )

    async def ratings_of(self, user_id: int) -> list[tuple[int, str, int]]:
        """(track id, video id, value) of every rating a member gave, one query."""
        return await self._all(
            "SELECT track_id, video_id, value FROM ratings WHERE user_id = :u", {"u": user_id}
        )

    async def community(
        self,
        guild_id: int | None,
        user_id: int,
        candidates: Sequence[int],
        liked: Sequence[int],
    ) -> Community:
        """Other members' likes and dislikes of the candidates in this server, and how
        many members liked a candidate together with something this member liked."""
        community = Community()
        if not candidates:
            return community
        wanted = [int(t) for t in candidates]
        if guild_id is not None:
            rows = await self._all(
                _COMMUNITY_VOTES, {"g": guild_id, "u": user_id, "candidates": wanted}
            )
            for track, likes, dislikes in rows:
                if likes:
                    community.likes[track] = likes
                if dislikes:
                    community.dislikes[track] = dislikes
        if liked:
            rows = await self._all(
                _CO_LIKES,
                {"liked": [int(t) for t in liked], "u": user_id, "candidates": wanted},
            )
            community.co_likes.update(dict(rows))
        return community

    async def forget_member(self, user_id: int) -> int:
        """Delete every rating and reaction of a member; returns how many ratings went."""
        async with self.transaction():
            (count,) = await self._one(
                "SELECT COUNT(*) FROM ratings WHERE user_id = :u", {"u": user_id}
            )
            await self._execute("DELETE FROM ratings WHERE user_id = :u", {"u": user_id})
            await self._execute("DELETE FROM reactions WHERE user_id = :u", {"u": user_id})
        return count

    async def count_ratings(self) -> int:
        return (await self._one("SELECT COUNT(*) FROM ratings"))[0]

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
_FACTS_OF = _sql(
    "SELECT video_id, status, title, channel, checked_at FROM video_facts WHERE video_id IN :ids",
    "ids",
)
_COMMUNITY_VOTES = _sql(
    "SELECT track_id, COUNT(DISTINCT CASE WHEN value > 0 THEN user_id END),"
    " COUNT(DISTINCT CASE WHEN value < 0 THEN user_id END) FROM ratings"
    " WHERE guild_id = :g AND user_id != :u AND track_id IN :candidates"
    " GROUP BY track_id",
    "candidates",
)
_CO_LIKES = _sql(
    "SELECT b.track_id, COUNT(DISTINCT b.user_id) FROM ratings a"
    " JOIN ratings b ON b.user_id = a.user_id"
    " WHERE a.track_id IN :liked AND a.value > 0 AND a.user_id != :u"
    " AND b.value > 0 AND b.track_id IN :candidates GROUP BY b.track_id",
    "liked",
    "candidates",
)
