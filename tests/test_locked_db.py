"""Another process holding the database's write lock: bounded waits, no rating lost."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from recommender.engine import Engine
from tests.conftest import engine_settings

HOLD_LOCK = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()  # holds the lock until the test says
db.execute("COMMIT")
"""


async def test_ratings_wait_for_a_locked_database(built_catalog: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(built_catalog, data)
    engine = await Engine.open(engine_settings(data_dir=data, db_busy_timeout_s=0.5))
    try:
        video = (await engine.store.tracks_by_ids([1]))[1].video_id
        result = await engine.recommend(video, 3)
        await engine.record_reply(111, 5, 6, 7, result)
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD_LOCK, str(data / "earshot.sqlite3")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert holder.stdin is not None and holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        # Each rating waits the busy timeout (0.5 s), not for the lock: they return while
        # the lock is still held (it is held until the test lets go, however long).
        for emoji in ("1", "down"):  # 60 s: a hang guard, should a rating wait for the lock
            assert await asyncio.wait_for(engine.react(42, 111, emoji, True), 60)
        assert engine.store.pending_writes == 2
        during = await engine.recommend(video, 3)  # reads go on (WAL)
        assert [i.track_id for i in during.items] == [i.track_id for i in result.items]
        assert holder.poll() is None  # the lock was held throughout
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(60)  # a hang guard: it commits at once
        for _ in range(600):  # the queued writes go in within a second or two; 60 s guards
            if engine.store.pending_writes == 0:
                break
            await asyncio.sleep(0.1)
        with sqlite3.connect(engine.settings.database_path) as db:  # as any reader would
            rows = db.execute(
                "SELECT position, value FROM ratings WHERE user_id = 42 ORDER BY position"
            ).fetchall()
        assert rows == [(1, 1), (2, -1), (3, -1)]
    finally:
        await engine.close()
