"""Where earshot's shared state lives, and the few things that differ by where.

SQLite in DATA_DIR by default; PostgreSQL when DATABASE_URL is set (several processes
and machines sharing one database). Both are spoken through SQLAlchemy's async core
(aiosqlite and asyncpg): this module creates the engine, maps URLs to drivers, renders
the schema's migrations per dialect, applies them, and says which errors are worth
waiting out. The queries themselves are portable SQL in ``store.py``.

SQLite keeps exactly its old behaviour: one connection (a pool of one), WAL,
synchronous=NORMAL, foreign keys on, the busy timeout, the schema version in
``PRAGMA user_version``, and writes in ``BEGIN IMMEDIATE`` transactions (the driver in
autocommit mode; the Store begins and commits). PostgreSQL gets a modest pool, keeps its
version in ``earshot_schema`` and migrates in one transaction behind an advisory lock,
so two processes starting at once never migrate twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import URL, event, make_url, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from ..addresses import redact
from ..disk import is_disk_full
from ..errors import DatabaseDamagedError, DatabaseUnavailableError, EarshotError
from .schema import MIGRATIONS, SCHEMA_VERSION, render_migration

POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+asyncpg://")
PG_CONNECT_TIMEOUT_S = 15.0  # the first connection at open; then the pool's own
PG_POOL_SIZE = 5
PG_MAX_OVERFLOW = 5
# pg_advisory_xact_lock key held while the schema is migrated (or a copy is loaded).
MIGRATION_LOCK_KEY = 0x6561727368  # "earsh"
MIGRATION_WAIT_S = 60.0  # how long an open waits for another process's migration


# The column types that differ: SQLite's renderings are exactly the original schema's.
class StoreError(EarshotError):
    """The database cannot be used as it is."""


def is_postgres(target: str | Path) -> bool:
    return isinstance(target, str) and target.startswith(POSTGRES_SCHEMES)


def postgres_url(raw: str) -> URL:
    """postgresql:// and postgres:// addresses go to the asyncpg driver."""
    url = make_url(raw)
    if url.drivername in ("postgresql", "postgres", "postgresql+asyncpg"):
        return url.set(drivername="postgresql+asyncpg")
    shown = redact(url.render_as_string(hide_password=True))
    raise StoreError(f"not a PostgreSQL address: {shown}")


def postgres_engine(raw: str, **options: Any) -> AsyncEngine:
    """An engine over asyncpg that connects with the address as the operator gave it:
    asyncpg reads libpq's parameters from it (sslmode, sslrootcert, sslcert, sslkey,
    ...), which SQLAlchemy would otherwise pass on as unknown keyword arguments."""
    url = postgres_url(raw)
    query = dict(url.query)
    binding = query.pop("channel_binding", None)
    if binding not in (None, "disable", "prefer"):
        raise StoreError(
            f"DATABASE_URL asks for channel_binding={binding}, which earshot's PostgreSQL "
            "driver (asyncpg) cannot do; remove it and use sslmode=verify-full, which "
            "checks the server's certificate"
        )
    dsn = url.set(drivername="postgresql", query=query).render_as_string(hide_password=False)

    async def connect() -> Any:
        return await asyncpg.connect(dsn)

    return create_async_engine("postgresql+asyncpg://", async_creator=connect, **options)


def sqlite_url(path: Path, *, read_only: bool = False) -> URL:
    if read_only:
        return URL.create(
            "sqlite+aiosqlite",
            database=f"file:{path}",
            query={"mode": "ro", "uri": "true"},
        )
    return URL.create("sqlite+aiosqlite", database=str(path))


_SQLITE_DAMAGE = (11, 26)  # SQLITE_CORRUPT ("malformed"), SQLITE_NOTADB


def is_damaged(error: BaseException) -> bool:
    """SQLite's "database disk image is malformed" or "file is not a database"."""
    orig = error.orig if isinstance(error, DBAPIError) else error
    return isinstance(orig, sqlite3.DatabaseError) and (
        getattr(orig, "sqlite_errorcode", None) in _SQLITE_DAMAGE
        or "malformed" in str(orig)
        or "not a database" in str(orig)
    )


def is_locked(error: BaseException) -> bool:
    """SQLite's "database is locked" (another process holds the write lock)."""
    orig = error.orig if isinstance(error, DBAPIError) else error
    if not isinstance(orig, sqlite3.OperationalError):
        return False
    message = str(orig).lower()
    return "locked" in message or "busy" in message


# Connection trouble (class 08), the server shutting down or starting (57P0x), and
# transactions PostgreSQL asks to retry (serialization failure, deadlock).
_PG_RETRY_STATES = ("08", "57P01", "57P02", "57P03", "40001", "40P01")


def is_transient_postgres(error: BaseException) -> bool:
    if isinstance(error, OSError):  # refused, reset, unreachable
        return True
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    state = getattr(error.orig, "sqlstate", None) or ""
    return state.startswith(_PG_RETRY_STATES)


@dataclass
class Database:
    """An async engine and its dialect. ``where`` names it in messages (no password)."""

    engine: AsyncEngine
    dialect: str  # "sqlite" or "postgresql"
    where: str
    path: Path | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @classmethod
    def create(
        cls, target: str | Path, busy_timeout_s: float = 5.0, *, read_only: bool = False
    ) -> Database:
        """An engine for a PostgreSQL URL, or a SQLite file path (its folder is made)."""
        if isinstance(target, str) and not is_postgres(target):
            if "://" in target:
                raise StoreError(
                    f"unsupported database address {target.split('://')[0]}://...; "
                    "use a postgresql:// URL or a SQLite file path"
                )
            target = Path(target)
        if isinstance(target, Path):
            return cls._sqlite(target, busy_timeout_s, read_only)
        url = postgres_url(target)
        engine = postgres_engine(
            target,
            pool_size=PG_POOL_SIZE,
            max_overflow=PG_MAX_OVERFLOW,
            pool_pre_ping=True,  # a restarted server's dead connections are replaced
            pool_recycle=1800,
        )
        return cls(engine, "postgresql", redact(url.render_as_string(hide_password=True)))

    @classmethod
    def _sqlite(cls, path: Path, busy_timeout_s: float, read_only: bool) -> Database:
        if not read_only:  # the catalog, ratings and member ids: for this user alone
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):  # SQLite's -wal and -shm follow it
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        engine = create_async_engine(
            sqlite_url(path, read_only=read_only),
            # One connection, as before: the Store serializes its writers itself.
            poolclass=AsyncAdaptedQueuePool,
            pool_size=1,
            max_overflow=0,
            pool_timeout=max(60.0, 4 * busy_timeout_s),
            # The driver in autocommit: transactions are the Store's BEGIN IMMEDIATE.
            connect_args={"timeout": busy_timeout_s, "isolation_level": None},
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            try:
                if not read_only:
                    cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.execute("PRAGMA foreign_keys=ON")
            finally:
                cursor.close()

        return cls(engine, "sqlite", str(path), path)

    async def dispose(self) -> None:
        await self.engine.dispose()

    def is_transient(self, error: BaseException) -> bool:
        """Worth queueing and retrying: SQLite locked by another process; PostgreSQL
        unreachable for a while or asking for a retry; the disk under either full."""
        if isinstance(error, DatabaseUnavailableError) and error.__cause__ is not None:
            error = error.__cause__  # the driver's error, put in words by the store
        if is_disk_full(error):  # room comes back when the operator frees some
            return True
        if self.is_sqlite:
            return is_locked(error)
        return is_transient_postgres(error)

    # --- schema version and migrations ----------------------------------------------

    async def schema_version(self, conn: AsyncConnection) -> int:
        if self.is_sqlite:
            return (await conn.exec_driver_sql("PRAGMA user_version")).scalar_one()
        exists = (
            await conn.execute(text("SELECT to_regclass('earshot_schema') IS NOT NULL"))
        ).scalar_one()
        if not exists:
            return 0
        return (
            await conn.execute(text("SELECT COALESCE(MAX(version), 0) FROM earshot_schema"))
        ).scalar_one()

    def _too_new(self, version: int) -> StoreError:
        return StoreError(
            f"{self.where} has schema version {version}, newer than this earshot "
            f"understands ({SCHEMA_VERSION}); upgrade earshot"
        )

    async def migrate(self) -> None:
        """Bring the schema forward to SCHEMA_VERSION (a newer one is refused)."""
        if self.is_sqlite:
            try:
                await self._migrate_sqlite()
            except Exception as exc:
                if is_damaged(exc):
                    raise DatabaseDamagedError(self.where, getattr(exc, "orig", exc)) from None
                raise
            return
        try:  # the first connection: a server that is down or refuses us, said plainly
            conn = await asyncio.wait_for(self.engine.connect(), PG_CONNECT_TIMEOUT_S)
        except Exception as exc:
            raise DatabaseUnavailableError(self.where, exc) from exc
        try:
            async with conn.begin():
                await migrate_postgres(self, conn)
        finally:
            await conn.close()

    async def _migrate_sqlite(self) -> None:
        async with self.engine.connect() as conn:
            version = await self.schema_version(conn)
            if version > SCHEMA_VERSION:
                raise self._too_new(version)
            for target in range(version + 1, SCHEMA_VERSION + 1):
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
                try:
                    for statement in render_migration(MIGRATIONS[target - 1], "sqlite"):
                        await conn.exec_driver_sql(statement)
                    await conn.exec_driver_sql(f"PRAGMA user_version={target}")
                    await conn.exec_driver_sql("COMMIT")
                except BaseException:
                    await conn.exec_driver_sql("ROLLBACK")
                    raise


async def migrate_postgres(database: Database, conn: AsyncConnection) -> None:
    """In the caller's transaction: migrate forward. A current schema needs no lock (so a
    stalled migration elsewhere never holds up an open); otherwise take the migration
    lock, waiting at most MIGRATION_WAIT_S before naming who holds it."""
    version = await database.schema_version(conn)
    if version > SCHEMA_VERSION:
        raise database._too_new(version)
    if version == SCHEMA_VERSION:
        return
    await take_migration_lock(database, conn)
    await conn.execute(text("CREATE TABLE IF NOT EXISTS earshot_schema (version INTEGER NOT NULL)"))
    version = await database.schema_version(conn)  # another process may have migrated
    if version > SCHEMA_VERSION:
        raise database._too_new(version)
    if version == SCHEMA_VERSION:
        return
    for target in range(version + 1, SCHEMA_VERSION + 1):
        for statement in render_migration(MIGRATIONS[target - 1], "postgresql"):
            await conn.exec_driver_sql(statement)
    await conn.execute(text("DELETE FROM earshot_schema"))
    await conn.execute(
        text("INSERT INTO earshot_schema (version) VALUES (:v)"), {"v": SCHEMA_VERSION}
    )


async def take_migration_lock(database: Database, conn: AsyncConnection) -> None:
    """The migration lock, in the caller's transaction, or DatabaseUnavailableError naming
    the process that has held it past MIGRATION_WAIT_S."""
    deadline = asyncio.get_running_loop().time() + MIGRATION_WAIT_S
    while True:
        taken = await conn.execute(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
        )
        if taken.scalar_one():
            return
        if asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.2)
    holder = (
        await conn.execute(
            text(
                "SELECT a.pid, a.application_name, a.client_addr, a.backend_start FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
                "AND l.granted AND l.classid = :high AND l.objid = :low"
            ),
            {"high": MIGRATION_LOCK_KEY >> 32, "low": MIGRATION_LOCK_KEY & 0xFFFFFFFF},
        )
    ).first()
    who = (
        f"PostgreSQL process {holder[0]} ({holder[1] or 'no application name'}, from "
        f"{holder[2] or 'this host'}, connected since {holder[3]:%Y-%m-%d %H:%M:%S})"
        if holder
        else "another process"
    )
    raise DatabaseUnavailableError(
        database.where,
        TimeoutError(
            f"{who} has held earshot's migration lock for over {MIGRATION_WAIT_S:.0f} s "
            "(a migrate-to-postgres or an upgrade); let it finish, or end it with "
            "pg_terminate_backend"
        ),
    )


class SyncReader:
    """Read-only queries from synchronous code (the rebuild child process): plain
    sqlite3 on a SQLite file (read-only; WAL lets writers go on), or the async engine
    driven by a private event loop on PostgreSQL (asyncpg has no synchronous driver).
    ``sql`` uses ``:name`` parameters, which both understand."""

    def __init__(self, target: str | Path) -> None:
        self._sqlite: sqlite3.Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        if is_postgres(target):
            self._loop = asyncio.new_event_loop()
            self._engine = postgres_engine(
                str(target), pool_size=1, max_overflow=0
            ).execution_options(isolation_level="AUTOCOMMIT")
        else:
            self._sqlite = sqlite3.connect(f"file:{target}?mode=ro", uri=True, timeout=30)

    def all(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple]:
        if self._sqlite is not None:
            return self._sqlite.execute(sql, params or {}).fetchall()
        assert self._loop is not None
        return self._loop.run_until_complete(self._all(sql, params))

    async def _all(self, sql: str, params: Mapping[str, Any] | None) -> list[tuple]:
        async with self._engine.connect() as conn:
            return [tuple(r) for r in (await conn.execute(text(sql), params)).all()]

    def one(self, sql: str, params: Mapping[str, Any] | None = None) -> tuple:
        rows = self.all(sql, params)
        return rows[0] if rows else ()

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
        if self._loop is not None:
            self._loop.run_until_complete(self._engine.dispose())
            self._loop.close()
