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
written as soon as the lock goes (on PostgreSQL: as soon as the server answers again)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import TextClause

from ..disk import describe_free, is_disk_full
from ..errors import BusyError, DatabaseUnavailableError
from .db import Database, is_transient_postgres

if TYPE_CHECKING:
    from ..config import Settings

from .rows import _sql

log = logging.getLogger(__name__)

MAX_PENDING_WRITES = 10_000  # queued while locked; past this, callers are told "busy"
READ_RETRY_S = 5.0  # a read waits this long for a restarting PostgreSQL, then refuses
FLUSH_ON_CLOSE_S = 15.0  # how long close() waits for queued writes

# The connection of the write transaction this task is in, per store (tasks that share
# a store each have their own).
_IN_TRANSACTION: ContextVar[tuple[StoreCore, AsyncConnection] | None] = ContextVar(
    "earshot_store_transaction", default=None
)


class _DriverSQL:
    """SQL in the driver's own parameter style (``?`` on SQLite), on the current write
    transaction's connection or the store's own: for scripts that fill tables directly
    (the benchmark). The store's methods use portable SQL instead."""

    def __init__(self, store: StoreCore) -> None:
        self._store = store

    async def execute(self, sql: str, params: Sequence = ()) -> None:
        async with self._store._connection() as conn:
            await conn.exec_driver_sql(sql, tuple(params))

    async def executemany(self, sql: str, rows: Iterable[Sequence]) -> None:
        async with self._store._connection() as conn:
            await conn.exec_driver_sql(sql, [tuple(r) for r in rows])


class StoreCore:
    """Opening and closing the database, writes that wait, and transactions: what every
    table's methods stand on (``store.Store`` puts them together)."""

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
    async def open(cls, target: str | Path, busy_timeout_s: float = 5.0) -> Self:
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
    async def open_settings(cls, settings: Settings) -> Self:
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
        # a read needs no transaction
        async with self._unavailable_in_words(), self._read_engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def _unavailable_in_words(self) -> AsyncIterator[None]:
        """A PostgreSQL server gone (restarting, unreachable) as DatabaseUnavailableError,
        the words a member reads, instead of the driver's error; the original is its
        cause, which ``write_behind`` still knows to wait out."""
        try:
            yield
        except DatabaseUnavailableError:
            raise
        except Exception as exc:
            if self.database.is_sqlite or not is_transient_postgres(exc):
                raise
            raise DatabaseUnavailableError(self.where, exc) from exc

    async def _read(self, run: Callable[[AsyncConnection], Awaitable[Any]]) -> Any:
        """``run(conn)`` for a read, tried again for up to READ_RETRY_S while a PostgreSQL
        server restarts (a read is safe to repeat), then DatabaseUnavailableError."""
        deadline = asyncio.get_running_loop().time() + READ_RETRY_S
        delay = 0.2
        while True:
            try:
                async with self._connection() as conn:
                    return await run(conn)
            except DatabaseUnavailableError as exc:
                current = _IN_TRANSACTION.get()
                in_transaction = current is not None and current[0] is self
                if in_transaction or asyncio.get_running_loop().time() + delay > deadline:
                    raise
                log.info("the database did not answer a read (%s); trying again", exc.__cause__)
                await asyncio.sleep(delay)
                delay = min(2 * delay, 1.0)

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
        async with self._unavailable_in_words(), self.database.engine.begin() as conn:
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

        async def run(conn: AsyncConnection) -> tuple:
            row = (await conn.execute(clause, params)).first()
            return tuple(row) if row is not None else ()

        return await self._read(run)

    async def _all(
        self, sql: str | TextClause, params: Mapping[str, Any] | None = None
    ) -> list[tuple]:
        clause = text(sql) if isinstance(sql, str) else sql

        async def run(conn: AsyncConnection) -> list[tuple]:
            return [tuple(r) for r in (await conn.execute(clause, params)).all()]

        return await self._read(run)

    async def schema_version(self) -> int:
        async with self._connection() as conn:
            return await self.database.schema_version(conn)
