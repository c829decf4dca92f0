"""Simulated listening hosts for ``benchmark.py cluster``'s fleet: real arq workers running
earshot's real job (``queue_worker.listen``: the shared cache looked up in the database,
the song written to it and to the catalog, the result sent back through Redis), whose
listening (download, decode, VGGish) is replaced by a fixed sleep. Each worker has its own
Redis and database connections, as a host of its own would.

    python -m scripts.standins.fleet_worker WORKERS SLEEP_S

Settings come from the environment (QUEUE_URL, QUEUE_NAME, DATABASE_URL, ...). It prints
"fleet ready" once every worker has started, and stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import hashlib
import signal
import sys
from collections.abc import Callable

import numpy as np

from recommender.config import Settings
from recommender.listening.listener import Listener
from recommender.listening.queue_worker import make_worker
from recommender.listening.workers import Listened

FRAMES = 62  # a minute of audio


class SleepingListener(Listener):
    """Listens by sleeping ``sleep_s``, then answers frames that depend on the song."""

    sleep_s = 1.0

    async def _run(self, function: Callable[..., Listened], *args: object) -> Listened:
        await asyncio.sleep(self.sleep_s)
        seed = int.from_bytes(hashlib.sha256(str(args[0]).encode()).digest()[:8], "big")
        frames = np.random.default_rng(seed).integers(0, 256, (FRAMES, 128), dtype=np.uint8)
        return Listened(frames, f"Song {args[0]}", "Fleet", 60.0, await self.model_version())


async def main(workers: int, sleep_s: float) -> None:
    SleepingListener.sleep_s = sleep_s
    settings = Settings.from_env()
    fleet = [
        make_worker(settings, warm=False, listener_class=SleepingListener) for _ in range(workers)
    ]
    loop = asyncio.get_running_loop()
    tasks = [asyncio.ensure_future(w.async_run()) for w in fleet]
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):  # one handler for all (each arq worker set one)
        loop.add_signal_handler(sig, stop.set)
    while not all(w.ctx.get("listener") for w in fleet):
        await asyncio.sleep(0.05)
    print("fleet ready", flush=True)
    await stop.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for w in fleet:
        await w.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2])))
