"""``cluster``: listening past one machine: new-song throughput with 1, 2 and 4 queue
workers, what the Redis hop adds to one new song against the in-process default,
simulated fleets (fleet.py) and catalog /recommend latency (catalog_latency.py)."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from scripts.benchmarks.catalog_latency import catalog_latency
from scripts.benchmarks.fleet import fleet, job_run_s, video_ids
from scripts.benchmarks.harness import SHARED_PCA, machine

HELP = "listening workers on the queue; the cluster"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--songs", type=int, default=24, help="new songs per throughput run")
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs of the one-core-each pair, alternating"
    )
    parser.add_argument("--sequential", type=int, default=5, help="songs for the hop figure")
    parser.add_argument("--requests", type=int, default=200, help="catalog /recommend calls")
    parser.add_argument(
        "--fleet",
        type=lambda text: tuple(int(x) for x in text.split(",")),
        default=(8, 32, 128),
        help="simulated fleet sizes (workers), comma-separated",
    )
    parser.add_argument("--fleet-sleep", type=float, default=1.0, help="a simulated listen, s")
    parser.add_argument("--fleet-rounds", type=int, default=10, help="jobs per simulated worker")
    parser.add_argument("--json", action="store_true")


def _timed_listens(
    settings, warm: str, videos: list[str], together: bool
) -> tuple[list[float], list[float]]:
    """Seconds to each new song's frames through one engine on ``settings`` (all at once,
    or one after another), after a first song that is not timed (the model loads). With a
    queue, also each song's queue overhead: what the caller waited beyond the job's own
    run in the worker (arq records when the job started and finished)."""
    import asyncio

    from recommender.engine import Engine

    async def run() -> tuple[list[float], list[float]]:
        engine = await Engine.open(settings)
        overheads: list[float] = []
        try:

            async def one(video: str) -> float:
                started = time.perf_counter()
                _, source = await engine.listener.listen(video)
                seconds = time.perf_counter() - started
                assert source == "download", (video, source)
                if settings.queue_url:
                    queue = await engine.listener.queue()
                    version = await engine.listener.model_version()
                    ran = await job_run_s(queue.redis, settings, video, version)
                    assert ran is not None, video
                    overheads.append(seconds - ran)
                return seconds

            await engine.listener.listen(warm)  # new or cached: either way, all warm after
            if together:
                started = time.perf_counter()
                await asyncio.gather(*(one(v) for v in videos))
                return [time.perf_counter() - started], overheads
            return [await one(v) for v in videos], overheads
        finally:
            await engine.close()

    return asyncio.run(run())


def run(args: argparse.Namespace) -> dict:
    """Listening past one machine: new-song throughput with 1, 2 and 4 queue workers, and
    what the Redis hop adds to one new song, against the in-process default. Real Redis
    and PostgreSQL on 127.0.0.1; VGGish's real architecture (random weights)."""
    import dataclasses
    import statistics

    from recommender.config import Settings
    from scripts.local_servers import PostgresServer, RedisServer
    from scripts.standins.http_range import RangeServer
    from scripts.standins.media import make_song
    from scripts.standins.vggish_architecture import build_vggish_architecture
    from scripts.worker_process import ListeningWorker, worker_env

    pca = SHARED_PCA
    cores = os.cpu_count() or 1
    # (workers, pinned): sharing the machine's cores as TensorFlow likes, then one core
    # each (LISTEN_THREADS=1, the worker pinned with taskset), as one worker per host
    # core, or per host, would run.
    # The one-core-each pair is run ``repeats`` times, alternating, since a run of a few
    # seconds on a shared machine varies by several percent.
    runs = [(1, False, 0), (2, False, 0), (4, False, 0)]
    runs += [(n, True, r) for r in range(args.repeats) for n in (1, cores)]
    with (
        tempfile.TemporaryDirectory(prefix="earshot-bench-") as tmp_name,
        RedisServer() as redis,
        PostgresServer() as postgres,
    ):
        tmp = Path(tmp_name)
        model = build_vggish_architecture(tmp / "vggish")
        media = tmp / "media"
        media.mkdir()
        master = make_song(tmp / "song.mp3", 90.0)
        batches = {
            run: video_ids(f"w{run[0]}{'p' if run[1] else ''}r{run[2]}song", args.songs)
            for run in runs
        }
        warm = video_ids("warm", len(runs) + 1)
        solo = {k: video_ids(f"{k}solo", args.sequential) for k in ("own", "hop")}
        for video in [*warm, *solo["own"], *solo["hop"], *(v for b in batches.values() for v in b)]:
            shutil.copyfile(master, media / f"{video}.mp3")
        with RangeServer(media) as youtube:
            base = Settings(
                data_dir=tmp / "data",
                vggish_model=str(model),
                pca_params=pca,
                database_url=postgres.url,
                allow_test_hosts=True,
                test_media_base=youtube.url(""),
                request_timeout_s=900.0,
                max_concurrent_requests=1,
                index_watch_s=0,
            )
            # The embedded default: this process's own listening worker, warm.
            own, _ = _timed_listens(base, warm[0], solo["own"], together=False)
            results = []
            hop: list[float] = []
            hop_overhead: list[float] = []
            for step, ((n, pinned, repeat), videos) in enumerate(batches.items(), 1):
                queued = dataclasses.replace(
                    base, queue_url=redis.url, queue_name=f"earshot:bench:{n}:{pinned}"
                )
                command = [sys.executable, "-m", "recommender", "worker"]
                env = worker_env(queued, LISTEN_THREADS="1" if pinned else "0")
                workers = [
                    ListeningWorker(
                        env,
                        f"worker{i}",
                        ["taskset", "-c", str(i % cores), *command] if pinned else command,
                    ).start()
                    for i in range(n)
                ]
                try:
                    (seconds,), _ = _timed_listens(queued, warm[step], videos, together=True)
                    if (n, pinned) == (1, False):
                        hop, hop_overhead = _timed_listens(
                            queued, warm[0], solo["hop"], together=False
                        )
                    done = [w.jobs_done() for w in workers]
                finally:
                    for worker in workers:
                        worker.stop()
                results.append(
                    {
                        "workers": n,
                        "one_core_each": pinned,
                        "repeat": repeat,
                        "songs": len(videos),
                        "seconds": round(seconds, 2),
                        "songs_per_s": round(len(videos) / seconds, 3),
                        "jobs_per_worker": done,
                    }
                )
        fleets = fleet(
            tmp, model, pca, redis, postgres, args.fleet, args.fleet_sleep, args.fleet_rounds
        )
        try:
            catalog = catalog_latency(tmp, model, pca, args.requests, redis.url, postgres.url)
        except AssertionError as exc:  # reported as what it is, never as a figure
            catalog = {"failed": str(exc)}
    for r in results:
        one = next(
            o
            for o in results
            if o["workers"] == 1
            and o["one_core_each"] == r["one_core_each"]
            and o["repeat"] == r["repeat"]
        )
        r["ratio_to_1"] = round(r["songs_per_s"] / one["songs_per_s"], 2)
    pinned_ratios = [r["ratio_to_1"] for r in results if r["one_core_each"] and r["workers"] > 1]
    own_p50, hop_p50 = statistics.median(own), statistics.median(hop)
    return {
        "benchmark": "cluster",
        "machine": machine(),
        "model": "VGGish architecture, random weights (real cost); 2 x 30 s sections per song",
        "throughput": results,
        "one_core_each": {
            "workers": cores,
            "ratio_to_1_median": statistics.median(pinned_ratios),
            "ratio_to_1_runs": pinned_ratios,
            "target": 1.8,
        },
        "fleet": fleets,
        "catalog_recommend": catalog,
        "new_song": {
            "in_process_p50_s": round(own_p50, 3),
            "via_queue_p50_s": round(hop_p50, 3),
            "queue_hop_added_s": round(hop_p50 - own_p50, 3),
            # The hop alone, per song: the caller's wait minus the job's run in the worker
            # (enqueue, pick-up, result poll, the result's trip back through Redis).
            "queue_overhead_p50_s": round(statistics.median(hop_overhead), 3),
            "queue_overhead_max_s": round(max(hop_overhead), 3),
            "in_process_s": [round(x, 3) for x in own],
            "via_queue_s": [round(x, 3) for x in hop],
        },
    }
