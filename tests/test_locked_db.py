"""Another process holding the database's write lock: bounded waits, no rating lost."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from recommender.engine import Engine
from tests.conftest import engine_settings

HOLD_LOCK = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
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
            [sys.executable, "-c", HOLD_LOCK, str(data / "earshot.sqlite3"), "4"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        assert await engine.react(42, 111, "1", True)
        assert await engine.react(42, 111, "down", True)
        assert time.monotonic() - started < 3  # a bounded wait, not the whole lock
        assert engine.store.pending_writes == 2
        during = await engine.recommend(video, 3)  # reads go on (WAL)
        assert [i.track_id for i in during.items] == [i.track_id for i in result.items]
        holder.wait(10)
        for _ in range(150):
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
