"""The ``cluster`` benchmark's simulated fleets of listening hosts, and the queue helpers it
shares with the throughput runs: how long a job ran in its worker, distinct video ids."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from scripts.benchmarks.harness import ROOT, cpu_seconds


def fleet(
    tmp: Path,
    model: Path,
    pca: Path,
    redis,
    postgres,
    sizes: tuple[int, ...],
    sleep_s: float,
    rounds: int,
) -> list[dict]:
    """Simulated fleets of listening hosts (scripts/standins/fleet_worker.py: the real job,
    queue and database writes; listening replaced by a ``sleep_s`` sleep), ``n`` workers
    each taking one job at a time, kept busy by ``n`` callers asking for new songs through
    the bot's real queue client. Per size: jobs per second against the ideal
    ``n / sleep_s``, the queue hop (a caller's wait minus the job's run) p50 and p99, and
    the share of a core Redis and PostgreSQL used."""
    import asyncio
    import dataclasses
    import statistics

    import psutil

    from recommender.catalog.store import Store
    from recommender.config import Settings
    from recommender.listening.jobs import ListenQueue
    from recommender.listening.listener import Listener
    from scripts.worker_process import worker_env

    results = []
    for n in sizes:
        settings = Settings(
            data_dir=tmp / f"fleet{n}",
            vggish_model=str(model),
            pca_params=pca,
            database_url=postgres.url,
            queue_url=redis.url,
            queue_name=f"earshot:fleet:{n}",
            request_timeout_s=900.0,
            max_concurrent_requests=1,
        )
        hosts = min(n, 8)  # processes: each runs n / hosts workers (own connections each)
        env = {**worker_env(settings), "PYTHONPATH": str(ROOT)}
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "scripts.standins.fleet_worker",
                    str(n // hosts + (i < n % hosts)),
                    str(sleep_s),
                ],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            for i in range(hosts)
        ]
        try:
            for proc in procs:
                line = proc.stdout.readline() if proc.stdout else ""
                if "fleet ready" not in line:
                    raise SystemExit(f"a simulated fleet process did not start ({line!r})")

            async def run(settings: Settings = settings, n: int = n, procs: list = procs) -> dict:
                store = await Store.open_settings(dataclasses.replace(settings, queue_url=None))
                version = await Listener(settings, store).model_version()
                queue = await ListenQueue.connect(settings)
                hops: list[float] = []
                errors: dict[str, int] = {}
                songs = iter(video_ids(f"fleet{n}x", n * rounds))

                async def caller() -> None:
                    for song in songs:
                        started = time.perf_counter()
                        try:
                            await queue.listen(song, None, version)
                        except Exception as exc:  # counted and reported, never hidden
                            key = f"{type(exc).__name__}: {exc}"[:160]
                            errors[key] = errors.get(key, 0) + 1
                            continue
                        waited = time.perf_counter() - started
                        ran = await job_run_s(queue.redis, settings, song, version)
                        if ran is not None:
                            hops.append(waited - ran)

                def cpu_now() -> dict[str, float]:
                    me = psutil.Process().cpu_times()
                    return {
                        "redis": cpu_seconds(redis._process.pid),
                        "postgres": cpu_seconds(postgres._process.pid),
                        "workers": sum(cpu_seconds(p.pid) for p in procs),
                        "callers": me.user + me.system,
                    }

                cpu_before = cpu_now()
                started = time.perf_counter()
                await asyncio.gather(*(caller() for _ in range(n)))
                seconds = time.perf_counter() - started
                cpu = {k: (v - cpu_before[k]) / seconds for k, v in cpu_now().items()}
                await queue.close()
                await store.close()
                hops.sort()
                done = len(hops)
                return {
                    "workers": n,
                    "jobs": n * rounds,
                    "answered": done,
                    "errors": errors,
                    "seconds": round(seconds, 2),
                    "jobs_per_s": round(done / seconds, 1),
                    "ideal_jobs_per_s": round(n / sleep_s, 1),
                    "efficiency": round(done / seconds / (n / sleep_s), 3),
                    "hop_p50_ms": round(1000 * statistics.median(hops), 1) if hops else None,
                    "hop_p99_ms": round(1000 * hops[int(done * 0.99)], 1) if hops else None,
                    # Cores used, on average over the run: Redis, PostgreSQL, the simulated
                    # workers' processes, and this process's callers (the bots' side).
                    "cores_used": {k: round(v, 3) for k, v in cpu.items()},
                }

            results.append(asyncio.run(run()))
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    return results


async def job_run_s(redis, settings, song: str, version: str) -> float | None:
    """How long arq says the worker ran ``song``'s job (None if it kept no result)."""
    from arq.jobs import Job

    from recommender.listening import job_codec
    from recommender.listening.jobs import job_id

    job = Job(
        job_id(song, version),
        redis,
        _queue_name=settings.queue_name,
        _deserializer=job_codec.decode,
    )
    info = await job.result_info()
    if info is None:
        return None
    return (info.finish_time - info.start_time).total_seconds()


def video_ids(prefix: str, count: int) -> list[str]:
    """``count`` distinct 11-character ids that start with ``prefix``."""
    return [f"{prefix}{i:0{11 - len(prefix)}d}" for i in range(count)]
