"""Out of disk space: under the index (a file size limit, or a real full tmpfs), under the
database, and under a running bot. Whatever can be served is served, nothing a member did
is lost, and everyone is told the real cause in one line."""

from __future__ import annotations

import asyncio
import errno
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest

from recommender.catalog.store import Store
from recommender.disk import describe_free, is_disk_full
from recommender.engine import Engine
from recommender.errors import DiskFullError
from recommender.index.vector_index import BUILDS, current_build
from recommender.ratings import Reply
from recommender.sources.uploads import Upload
from scripts.standins.cli import ROOT, cli_env, run_cli, run_json
from scripts.standins.http_range import RangeServer
from scripts.standins.small_disk import SmallDisk
from tests.conftest import engine_settings

DiskFactory = Callable[[int], SmallDisk]


def _limit_file_size() -> None:
    # Writes past 300 kB fail with EFBIG instead of killing the process with SIGXFSZ.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))


def test_no_space_for_the_index_keeps_the_old_one_serving(
    built_catalog: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(built_catalog, data)
    live = current_build(data / "index")
    result = subprocess.run(
        [sys.executable, "-m", "recommender", "reindex"],
        cwd=ROOT,
        env=cli_env(data),
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_limit_file_size,
    )
    assert result.returncode == 1, result.stderr
    assert "not enough disk space" in result.stderr and "old index keeps serving" in result.stderr
    assert "Traceback" not in result.stderr
    assert current_build(data / "index") == live
    assert not [p for p in (data / "index" / BUILDS).iterdir() if p.name.endswith(".partial")]
    stats = run_json(data, "stats")
    assert stats["indexed"] == stats["tracks"]


def _checkpoint(database: Path) -> None:
    """Empty the WAL into the database file and truncate it, so that the next write needs
    new space (a WAL keeps its size for reuse, which a full disk would not show)."""
    with sqlite3.connect(database) as db:
        busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    assert busy == 0


# --- recognising a full disk --------------------------------------------------------


def test_a_full_disk_is_recognised_in_every_form_it_takes(small_disk: DiskFactory) -> None:
    disk = small_disk(256 * 1024)
    database = disk.path / "t.sqlite3"
    with sqlite3.connect(database) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE t (x BLOB)")
    _checkpoint(database)
    disk.fill()
    with pytest.raises(sqlite3.OperationalError) as sqlite_full, sqlite3.connect(database) as db:
        db.execute("INSERT INTO t VALUES (randomblob(200000))")
    assert is_disk_full(sqlite_full.value)
    with pytest.raises(OSError) as os_full:
        (disk.path / "more").write_bytes(b"x" * 100_000)
    assert os_full.value.errno == errno.ENOSPC and is_disk_full(os_full.value)
    assert describe_free(disk.path).startswith(f"the disk holding {disk.path} (")
    # What is not a full disk is not taken for one.
    with sqlite3.connect(database, timeout=0) as locker:
        locker.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError) as locked:
            sqlite3.connect(database, timeout=0).execute("BEGIN IMMEDIATE")
        locker.rollback()
    assert not is_disk_full(locked.value)
    assert is_disk_full(asyncpg.exceptions.DiskFullError("could not extend file"))  # 53100
    assert not is_disk_full(ValueError("could not decode"))
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))


# --- the store: writes wait for space and are not lost ------------------------------


async def test_ratings_wait_for_space_and_are_then_written(small_disk: DiskFactory) -> None:
    disk = small_disk(2 * 1024 * 1024)
    database = disk.path / "earshot.sqlite3"
    store = await Store.open(database)
    try:
        await store.record_reply(Reply(1, 7, 8, 42, "query000001", ((1, "aaaaaaaaaaa"),)))
        _checkpoint(database)
        disk.fill()
        # A new reply and a like on it: neither fits, both wait in order.
        reply = Reply(2, 7, 8, 42, "query000002", ((1, "bbbbbbbbbbb"), (2, "ccccccccccc")))
        assert await store.write_behind(store.record_reply, reply) is True
        assert await store.write_behind(store.set_reaction, 99, 2, "2", True) is True
        assert store.pending_writes == 2
        assert await store.ratings_of(99) == []
        await asyncio.sleep(1.0)  # retries meanwhile fail and keep both
        assert store.pending_writes == 2
        disk.free()
        for _ in range(200):
            if store.pending_writes == 0:
                break
            await asyncio.sleep(0.1)
        assert store.pending_writes == 0
        assert await store.ratings_of(99) == [(2, "ccccccccccc", 1)]
    finally:
        await store.close()
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT COUNT(*) FROM replies").fetchone() == (2,)
        rows = db.execute("SELECT position, value FROM ratings WHERE user_id = 99").fetchall()
        assert rows == [(2, 1)]


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _one_clear_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    return errors[0]


# --- the CLI: one clear line, and the command picks up where it stopped -------------


def test_ingest_out_of_space_is_one_line_and_resumes(
    audioset_slice: Path, small_disk: DiskFactory
) -> None:
    disk = small_disk(1024 * 1024)
    data = disk.path / "data"
    result = run_cli(data, "ingest", "--audioset", str(audioset_slice), check=False)
    assert result.returncode == 1
    line = _one_clear_line(result.stderr)
    assert line.startswith("error: out of disk space: the disk holding ") and "free)" in line
    assert "Free some space there and run the command again" in line
    disk.grow(64 * 1024 * 1024)
    run_cli(data, "ingest", "--audioset", str(audioset_slice))
    whole = run_json(data, "stats")
    with sqlite3.connect(data / "earshot.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert whole["tracks"] > 500 and whole["ingest"]["files"] == 400


def test_reindex_out_of_space_keeps_the_old_index_and_no_lock(
    built_catalog: Path, small_disk: DiskFactory
) -> None:
    disk = small_disk(_size(built_catalog) + 4 * 1024 * 1024)
    data = disk.path / "data"
    shutil.copytree(built_catalog, data)
    live = current_build(data / "index")
    before = run_json(data, "stats")
    _checkpoint(data / "earshot.sqlite3")
    disk.fill()
    result = run_cli(data, "reindex", check=False)
    assert result.returncode == 1
    line = _one_clear_line(result.stderr)
    assert "disk space" in line and "old index keeps serving" in line, line
    assert current_build(data / "index") == live
    assert not (data / "index" / "REBUILDING").exists()
    assert not [p for p in (data / "index" / BUILDS).iterdir() if p.name.endswith(".partial")]
    assert run_json(data, "stats")["indexed"] == before["indexed"]  # reads need no space
    disk.free()
    run_cli(data, "reindex")  # at once: nothing left behind blocks it
    assert current_build(data / "index") != live


async def test_the_doctor_fails_a_full_data_folder(small_disk: DiskFactory) -> None:
    from recommender.ops.doctor import FAIL, check_data_dir

    disk = small_disk(1024 * 1024)
    disk.fill()
    check = await check_data_dir(engine_settings(data_dir=disk.path))
    assert check.status == FAIL and "is full: new songs cannot be listened to" in check.detail
    disk.free()
    assert (await check_data_dir(engine_settings(data_dir=disk.path))).status != FAIL


async def test_an_upload_on_a_full_disk_says_so(
    built_catalog: Path, small_disk: DiskFactory, tmp_path: Path
) -> None:
    """The file's bytes find no room: the member reads the disk-full sentence a YouTube
    song gets, the operator where; nothing is left behind (a preview shares the path)."""
    size = sum(p.stat().st_size for p in built_catalog.rglob("*") if p.is_file())
    disk = small_disk(size + 2 * 1024 * 1024)
    data = disk.path / "data"
    shutil.copytree(built_catalog, data)
    files = tmp_path / "cdn"
    files.mkdir()
    (files / "big.wav").write_bytes(b"RIFF" + bytes(6 * 1024 * 1024))
    with RangeServer(files) as cdn:
        settings = engine_settings(data_dir=data, test_discord_cdn=cdn.url(""))
        engine = await Engine.open(settings)
        try:
            upload = Upload(cdn.url("big.wav"), "big.wav", "audio/wav", 6 * 1024 * 1024 + 4)
            with pytest.raises(DiskFullError) as full:
                await engine.recommend_upload(upload, 3, member=7)
        finally:
            await engine.close()
    assert str(full.value) == DiskFullError.LISTENING
    assert full.value.operator_hint.startswith(f"the disk holding {data} (")
    assert not [p for p in (data / "tmp").rglob("*") if p.is_file()]
