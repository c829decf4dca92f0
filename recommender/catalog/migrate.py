"""Moving a SQLite deployment into PostgreSQL (``python -m recommender migrate-to-postgres``).

Every table is copied in primary-key order, a chunk at a time, inside ONE PostgreSQL
transaction that also creates the schema: a failure anywhere (or a copy that does not
verify) rolls it all back and leaves the target as it was. The SQLite file is opened
read-only and read in one transaction, so the copy is one consistent snapshot even if
the bot is still writing.

Verification: for each table, a row count and a SHA-256 over its rows in primary-key
order, each value in a canonical encoding (integers in decimal, floats exactly as stored
via ``float.hex``, text as UTF-8, blobs as bytes, NULL distinct from all), computed on
the SQLite side from the rows as they were read and on the PostgreSQL side by reading
them back before committing. Text keys are ordered bytewise on both sides (SQLite's
BINARY collation, PostgreSQL's "C").
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ..errors import EarshotError
from .db import Database, is_postgres, migrate_postgres, take_migration_lock
from .schema import SCHEMA_VERSION, TABLES, TEXT_KEYS

CHUNK_ROWS = 2000
_KEYS = dict(TABLES)


class MigrationRefused(EarshotError):
    """The copy would not be safe as asked (the CLI exits 2); nothing was changed."""


class VerificationFailed(EarshotError):
    """The copy in PostgreSQL differs from the SQLite database."""

    def __init__(self, checks: list[TableCheck], kept: bool) -> None:
        bad = [c for c in checks if not c.ok]
        super().__init__(
            "verification failed: "
            + "; ".join(
                f"table {c.table} differs ({c.source_rows} rows in SQLite, {c.target_rows} "
                f"in PostgreSQL{', checksums differ' if c.source_rows == c.target_rows else ''})"
                for c in bad
            )
            + ("" if kept else "; nothing was kept in PostgreSQL")
        )
        self.checks = checks
        self.tables = [c.table for c in bad]


@dataclass(frozen=True)
class TableCheck:
    table: str
    source_rows: int
    source_sha256: str
    target_rows: int
    target_sha256: str

    @property
    def ok(self) -> bool:
        return (self.source_rows, self.source_sha256) == (self.target_rows, self.target_sha256)


def _value_bytes(value: object) -> bytes:
    if value is None:
        return b"N"
    if isinstance(value, bool):
        raise TypeError("booleans are not part of the earshot schema")
    if isinstance(value, int):
        return b"I%d;" % value
    if isinstance(value, float):
        return b"F" + value.hex().encode() + b";"
    if isinstance(value, str):
        data = value.encode()
        return b"S%d:" % len(data) + data
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        return b"B%d:" % len(data) + data
    raise TypeError(f"cannot checksum a {type(value).__name__}")


def row_bytes(row: tuple) -> bytes:
    """One row's canonical encoding (the same for either database)."""
    return b"R" + b"".join(_value_bytes(v) for v in row)


def _select(table: str, columns: list[str], postgres: bool) -> str:
    order = ", ".join(
        f'{k} COLLATE "C"' if postgres and k in TEXT_KEYS else k for k in _KEYS[table]
    )
    return f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}"


async def table_checksum(
    conn: AsyncConnection, table: str, columns: list[str], postgres: bool
) -> tuple[int, str]:
    """(rows, sha256) of a table, streamed in primary-key order."""
    digest, count = hashlib.sha256(), 0
    result = await conn.stream(text(_select(table, columns, postgres)))
    async for part in result.partitions(CHUNK_ROWS):
        for row in part:
            digest.update(row_bytes(tuple(row)))
        count += len(part)
    return count, digest.hexdigest()


async def _sqlite_tables(conn: AsyncConnection) -> dict[str, list[str]]:
    """The source's tables and their columns, refusing anything this code does not know."""
    version = (await conn.exec_driver_sql("PRAGMA user_version")).scalar_one()
    if version != SCHEMA_VERSION:
        raise MigrationRefused(
            f"the SQLite database has schema version {version}, this earshot copies version "
            f"{SCHEMA_VERSION}"
            + (
                ": open it once with this earshot first (python -m recommender stats)"
                if version < SCHEMA_VERSION
                else ": upgrade earshot"
            )
        )
    names = [
        n
        for (n,) in await conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    unknown = sorted(set(names) - set(_KEYS))
    if unknown:
        raise MigrationRefused(
            f"the SQLite database has tables this earshot does not know: {', '.join(unknown)}"
        )
    columns = {}
    for table, _ in TABLES:
        rows = (await conn.exec_driver_sql(f"PRAGMA table_info({table})")).all()
        columns[table] = [r[1] for r in rows]
    return columns


async def _target_holdings(conn: AsyncConnection) -> dict[str, int]:
    """Rows (0 or 1: any at all) in each earshot table the target already has."""
    held = {}
    for table in ["earshot_schema", *_KEYS]:
        exists = (
            await conn.execute(text("SELECT to_regclass(:t) IS NOT NULL"), {"t": table})
        ).scalar_one()
        if exists:
            held[table] = (
                await conn.execute(text(f"SELECT COUNT(*) FROM (SELECT 1 FROM {table} LIMIT 1) s"))
            ).scalar_one()
    return held


def _open_source(source: Path) -> Database:
    if not source.is_file():
        raise MigrationRefused(f"there is no SQLite database at {source}")
    return Database.create(source, read_only=True)


def _open_target(target_url: str) -> Database:
    if not is_postgres(target_url):
        raise MigrationRefused(
            "the target must be a PostgreSQL address (postgresql://user:password@host/db)"
        )
    return Database.create(target_url)


Progress = Callable[[str, int, int], None]


async def copy_to_postgres(
    source: Path,
    target_url: str,
    *,
    replace: bool = False,
    progress: Progress = lambda table, done, total: None,
) -> list[TableCheck]:
    """Copy every table of the SQLite database at ``source`` into the PostgreSQL database
    at ``target_url`` and verify it, all in one transaction. Returns the checks (all ok);
    raises MigrationRefused (nothing changed) or VerificationFailed (rolled back)."""
    src = _open_source(source)
    dst = _open_target(target_url)
    try:
        async with src.engine.connect() as s, dst.engine.connect() as d:
            await s.exec_driver_sql("BEGIN")  # one snapshot of every table
            columns = await _sqlite_tables(s)
            async with d.begin():
                await take_migration_lock(dst, d)
                held = await _target_holdings(d)
                if any(held.values()) and not replace:
                    with_rows = [t for t, n in held.items() if n]
                    raise MigrationRefused(
                        f"{dst.where} already holds earshot data (in "
                        f"{', '.join(with_rows)}); pass --replace to overwrite it"
                    )
                for table in held:  # empty leftovers, or data --replace gives up
                    await d.execute(text(f"DROP TABLE IF EXISTS {table} CASCADE"))
                await migrate_postgres(dst, d)
                raw = (await d.get_raw_connection()).driver_connection
                assert raw is not None
                sums: dict[str, tuple[int, str]] = {}
                for table, _ in TABLES:
                    cols = columns[table]
                    total = (await s.exec_driver_sql(f"SELECT COUNT(*) FROM {table}")).scalar_one()
                    digest, done = hashlib.sha256(), 0
                    progress(table, 0, total)
                    result = await s.stream(text(_select(table, cols, postgres=False)))
                    async for part in result.partitions(CHUNK_ROWS):
                        rows = [tuple(r) for r in part]
                        for row in rows:
                            digest.update(row_bytes(row))
                        await raw.copy_records_to_table(table, records=rows, columns=cols)
                        done += len(rows)
                        progress(table, done, total)
                    sums[table] = (done, digest.hexdigest())
                # New tracks continue after the copied ids.
                await d.execute(
                    text(
                        "SELECT setval(pg_get_serial_sequence('tracks', 'id'),"
                        " COALESCE((SELECT MAX(id) FROM tracks), 0) + 1, false)"
                    )
                )
                checks = []
                for table, _ in TABLES:
                    rows, sha = await table_checksum(d, table, columns[table], postgres=True)
                    checks.append(TableCheck(table, *sums[table], rows, sha))
                if not all(c.ok for c in checks):
                    raise VerificationFailed(checks, kept=False)  # rolls the copy back
            await s.exec_driver_sql("ROLLBACK")
        return checks
    finally:
        await src.dispose()
        await dst.dispose()


async def verify(source: Path, target_url: str) -> list[TableCheck]:
    """Counts and checksums of every table on both sides, as they are now."""
    src = _open_source(source)
    dst = _open_target(target_url)
    try:
        async with src.engine.connect() as s, dst.engine.connect() as d:
            await s.exec_driver_sql("BEGIN")
            columns = await _sqlite_tables(s)
            missing = [t for t in _KEYS if t not in await _target_holdings(d)]
            if missing:
                raise MigrationRefused(
                    f"{dst.where} has no earshot tables ({', '.join(missing)} missing): "
                    "nothing to verify; run migrate-to-postgres without --verify first"
                )
            checks = []
            for table, _ in TABLES:
                left = await table_checksum(s, table, columns[table], postgres=False)
                right = await table_checksum(d, table, columns[table], postgres=True)
                checks.append(TableCheck(table, *left, *right))
            await s.exec_driver_sql("ROLLBACK")
            await d.rollback()
        return checks
    finally:
        await src.dispose()
        await dst.dispose()


def checks_table(checks: list[TableCheck]) -> str:
    """The checks as a table for the operator (checksums shortened to 16 hex digits)."""
    lines = [
        f"{'table':15} {'SQLite rows':>12} {'PostgreSQL rows':>16}  "
        f"{'SQLite sha256':16}  {'PostgreSQL sha256':17}  result"
    ]
    for c in checks:
        lines.append(
            f"{c.table:15} {c.source_rows:>12} {c.target_rows:>16}  {c.source_sha256[:16]:16}  "
            f"{c.target_sha256[:16]:17}  {'ok' if c.ok else 'DIFFERS'}"
        )
    return "\n".join(lines)
