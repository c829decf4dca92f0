"""``scale``: a synthetic catalog of ``--clips`` clips, end to end: ingest, build, lookups
(with hnswlib and faiss as references) and the bot's start-up."""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import threading
import time
from pathlib import Path

from scripts.benchmarks.anchors import anchors, install_anchors
from scripts.benchmarks.harness import machine, peak_rss_of_children, rss_mb
from scripts.benchmarks.lookups import measure_lookups
from scripts.benchmarks.synthetic import synthetic_catalog, synthetic_clips

HELP = "a synthetic catalog of N clips, end to end"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clips", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument(
        "--skew",
        action="store_true",
        help="AudioSet's real skew: half the clips carry only 'Music' or one generic label",
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--keep", type=Path, metavar="DIR", help="build in DIR (new) and keep it afterwards"
    )


def run(args: argparse.Namespace) -> dict:
    """Ingest, build, lookups (with hnswlib and faiss as references) and bot start-up at N."""
    import asyncio

    import numpy as np

    from recommender.config import Settings
    from recommender.engine import Engine
    from scripts.standins.bot_process import BotProcess
    from scripts.standins.discord_api import FakeDiscord

    install_anchors()
    report: dict = {
        "benchmark": "scale",
        "machine": machine(),
        "clips": args.clips,
        "catalog": "skewed (half 'Music' or one generic label)" if args.skew else "balanced",
    }
    with contextlib.ExitStack() as stack:
        if args.keep:
            tmp = args.keep
            tmp.mkdir(parents=True, exist_ok=False)
        else:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="earshot-scale-")))
        started = time.perf_counter()
        synthetic_catalog(tmp / "audioset", args.clips, skew=args.skew)
        report["synthesis_s"] = round(time.perf_counter() - started, 1)
        data = tmp / "data"
        settings = Settings(data_dir=data)

        async def ingest_and_build() -> dict:
            engine = await Engine.open(settings)
            try:
                t = time.perf_counter()
                await engine.ingest(tmp / "audioset")
                ingest_s = time.perf_counter() - t
                peak = [0.0]
                stop = threading.Event()
                watcher = threading.Thread(
                    target=peak_rss_of_children, args=(os.getpid(), stop, peak), daemon=True
                )
                watcher.start()
                t = time.perf_counter()
                meta = await engine.reindex()
                build_s = time.perf_counter() - t
                stop.set()
                watcher.join()
                return {
                    "ingest_s": ingest_s,
                    "build_s": build_s,
                    "build_peak_mb": peak[0],
                    "meta": meta,
                }
            finally:
                await engine.close()

        built = asyncio.run(ingest_and_build())
        database_mb = sum(p.stat().st_size for p in data.glob("earshot.sqlite3*")) / 2**20
        index_path = next((data / "index" / "builds").iterdir())
        index_mb = sum(p.stat().st_size for p in index_path.rglob("*") if p.is_file()) / 2**20
        info = built["meta"]  # an IndexInfo: its fields, and what else the build said
        meta = {**info.extra, **{k: v for k, v in vars(info).items() if k != "extra"}}
        report["index"] = {
            key: meta.get(key)
            for key in (
                "shared_groups",
                "clustered_rows",
                "clusters",
                "chunks",
                "annoy_groups",
                "annoy_rows",
                "trees",
                "tagger_s",
                "tagger_clips",
                "tagger_members",
                "tagger_steps",
                "build_s",
                "total_s",
            )
        }
        report.update(
            {
                "ingest_clips_per_s": round(args.clips / built["ingest_s"]),
                "database_mb": round(database_mb),
                "build_s": round(built["build_s"], 1),
                "build_peak_rss_mb": round(built["build_peak_mb"]),
                "index_mb": round(index_mb),
            }
        )

        # Lookups at the shipped settings, against exact inner-product search.
        from recommender.catalog.store import frames_from_blob
        from recommender.index.vector_index import VectorIndex

        index = VectorIndex.open_current(data / "index")
        assert index is not None
        rng = np.random.default_rng(1)
        import sqlite3

        # Half the queries are catalog clips (a member asking about a clip), half are new
        # songs from the same distribution.
        with sqlite3.connect(data / "earshot.sqlite3") as db:
            picks = rng.choice(len(index), size=args.queries - args.queries // 2, replace=False)
            rows = [
                db.execute(
                    "SELECT frames FROM tracks WHERE id = ?", (index.track_at(int(p)),)
                ).fetchone()[0]
                for p in picks
            ]
        query_frames = [frames_from_blob(r) for r in rows]
        query_frames += [
            c.frames for c in synthetic_clips(args.queries // 2, seed=1, skew=args.skew)
        ]
        queries = np.stack([index.query_vector(f) for f in query_frames])
        exact = [{h.position for h in index.exact_search(q, 10)} for q in queries]
        vectors = index.copy_rows()
        if args.keep:
            np.save(tmp / "queries.npy", queries)
            np.save(tmp / "exact.npy", np.array([sorted(t) for t in exact]))
        looked_up = measure_lookups(index, queries, exact, args.queries - args.queries // 2)
        report.update(looked_up)
        report["anchors"] = anchors(vectors, queries, exact, looked_up["recall_at_10"])
        index.close()
        del vectors
        report["index_open"] = open_times(index.path)

        with FakeDiscord() as discord:
            bot = BotProcess(discord, data, tmp / "bot.log")
            report["startup_s"] = round(bot.start(), 2)
            time.sleep(3)
            own, _ = rss_mb(bot.process.pid)  # type: ignore[union-attr]
            report["rss_mb"] = round(own)
            bot.stop()
    report["targets"] = {
        "recall_at_10": 0.95,
        "p50_ms": 2.0,
        "p99_over_p50": 5.0,
        "build_s": 300,
        "startup_s": 5,
        "rss_mb": 1536,
    }
    return report


def open_times(build: Path, runs: int = 3) -> dict:
    """Seconds to open ``build`` (median of ``runs``, its files in the page cache): as
    shipped (small files' checksums; Annoy files' as searches first need them), with every
    small file's checksum at open (what the start paid before), and with no checksum."""
    import statistics

    import recommender.index.reader as reader
    from recommender.index.vector_index import VectorIndex

    def median_open(check_bytes: int, deferred: str | None) -> float:
        saved = reader.CHECK_AT_OPEN_BYTES, reader.ANNOY_DIR
        reader.CHECK_AT_OPEN_BYTES, reader.ANNOY_DIR = check_bytes, deferred  # type: ignore[assignment]
        try:
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                VectorIndex(build).close()
                times.append(time.perf_counter() - t)
            return round(statistics.median(times), 3)
        finally:
            reader.CHECK_AT_OPEN_BYTES, reader.ANNOY_DIR = saved

    shipped = reader.CHECK_AT_OPEN_BYTES
    return {
        "shipped_s": median_open(shipped, reader.ANNOY_DIR),
        "every_small_file_checked_s": median_open(shipped, None),
        "no_checksums_s": median_open(0, reader.ANNOY_DIR),
    }
