"""``titles``: what titles cost a reply (oEmbed answering in 50 to 150 ms), and the verify
sweep's rate and memory at a catalog of ``--videos`` videos."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scripts.benchmarks.harness import ROOT, SHARED_AUDIOSET, machine, shipped_tagger

HELP = "what titles cost a reply; the verify sweep at scale"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--videos", type=int, default=1_000_000)
    parser.add_argument("--checked", type=int, default=3000)
    parser.add_argument("--json", action="store_true")


def _titles_latency(data: Path, queries: list[str], oembed_base: str) -> dict:
    """Reply latency for the same catalog queries with titles off, cold and warm."""
    import asyncio
    import dataclasses
    import sqlite3

    from recommender.config import Settings
    from recommender.engine import Engine

    async def timed(settings: Settings, clear: bool) -> list[float]:
        engine = await Engine.open(settings)
        try:
            await engine.recommend(queries[0], 5)  # warm the index pages and the tagger
            times = []
            for video in queries:
                if clear:
                    with sqlite3.connect(settings.database_path) as db:
                        db.execute("DELETE FROM video_facts")
                t = time.perf_counter()
                await engine.recommend(video, 5)
                times.append((time.perf_counter() - t) * 1000)
            return times
        finally:
            await engine.close()

    base = Settings(
        data_dir=data, allow_test_hosts=True, test_oembed_base=oembed_base, titles_budget_s=1.5
    )
    off = asyncio.run(timed(dataclasses.replace(base, titles_budget_s=0.0), clear=True))
    cold = asyncio.run(timed(base, clear=True))
    asyncio.run(timed(base, clear=False))  # every video's facts in the cache
    warm = asyncio.run(timed(base, clear=False))

    def p50(values: list[float]) -> float:
        return round(sorted(values)[len(values) // 2], 1)

    return {
        "queries": len(queries),
        "reply_ms_p50": {"titles_off": p50(off), "cold_cache": p50(cold), "warm_cache": p50(warm)},
        "added_ms_p50": {
            "cold_cache": round(p50(cold) - p50(off), 1),
            "warm_cache": round(p50(warm) - p50(off), 1),
        },
        "targets_ms": {"cold_cache_5_suggestions": 300, "warm_cache": 0},
    }


def _sweep_at_scale(folder: Path, videos: int, oembed_base: str, checked: int) -> dict:
    """A catalog of ``videos`` videos (one small clip each), swept by `verify --limit`."""
    import sqlite3

    import numpy as np

    from recommender.catalog.schema import MIGRATIONS, render_migration

    db_path = folder / "earshot.sqlite3"
    started = time.perf_counter()
    with sqlite3.connect(db_path) as db:
        for migration in MIGRATIONS:
            for statement in render_migration(migration, "sqlite"):
                db.execute(statement)
        db.execute(f"PRAGMA user_version={len(MIGRATIONS)}")
        frames = np.zeros((1, 128), np.uint8).tobytes()
        for first in range(0, videos, 100_000):
            db.executemany(
                "INSERT INTO tracks (video_id, start_s, end_s, labels, frames, source)"
                " VALUES (?, 0, 10, '', ?, 'synthetic')",
                [(f"v{n:010d}", frames) for n in range(first, min(first + 100_000, videos))],
            )
    setup_s = time.perf_counter() - started
    env = {
        **os.environ,
        "DATA_DIR": str(folder),
        "EARSHOT_TEST_ALLOW_LOOPBACK": "1",
        "EARSHOT_TEST_OEMBED_BASE": oembed_base,
        "VERIFY_RATE": "100",
    }
    t = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "recommender", "verify", "--limit", str(checked), "--json"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    import psutil

    peak, watched = 0.0, psutil.Process(process.pid)
    while process.poll() is None:
        with contextlib.suppress(psutil.Error):
            peak = max(peak, watched.memory_info().rss / 2**20)
        time.sleep(0.05)
    elapsed = time.perf_counter() - t
    report = json.loads(process.stdout.read() if process.stdout else "{}")
    return {
        "catalog_videos": videos,
        "catalog_setup_s": round(setup_s, 1),
        "checked": sum(report["this_run"].values()),
        "wall_s": round(elapsed, 1),
        "rate_per_s": round(sum(report["this_run"].values()) / elapsed, 1),
        "verify_rate_setting": 100,
        "peak_rss_mb": round(peak),
    }


def run(args: argparse.Namespace) -> dict:
    """What titles cost a reply (oEmbed answering in 50 to 150 ms), and the sweep's rate
    and memory at a catalog of --videos videos."""
    from scripts.standins.cli import run_cli
    from scripts.standins.oembed import OEmbedServer

    with tempfile.TemporaryDirectory(prefix="earshot-titles-") as tmp_name, OEmbedServer() as yt:
        tmp = Path(tmp_name)
        data = tmp / "data"
        run_cli(data, "ingest", "--audioset", str(SHARED_AUDIOSET))
        run_cli(data, "reindex", **shipped_tagger())
        import sqlite3

        with sqlite3.connect(data / "earshot.sqlite3") as db:
            queries = [
                v
                for (v,) in db.execute(
                    "SELECT DISTINCT video_id FROM tracks ORDER BY id LIMIT ?", (args.queries,)
                )
            ]
        yt.delay_range = (0.05, 0.15)
        latency = _titles_latency(data, queries, yt.base)
        yt.delay_range = (0.0, 0.0)
        sweep_dir = tmp / "sweep"
        sweep_dir.mkdir()
        sweep = _sweep_at_scale(sweep_dir, args.videos, yt.base, args.checked)
    return {
        "benchmark": "titles",
        "machine": machine(),
        "catalog": "the shared AudioSet sample (8,836 clips)",
        "oembed_latency_ms": [50, 150],
        "reply": latency,
        "sweep": sweep,
    }
