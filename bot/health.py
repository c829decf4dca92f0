"""Event-loop lag: how late the bot's loop wakes up, the measure of a responsive bot."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from pathlib import Path


class LoopLagMonitor:
    """Sleeps ``interval`` seconds over and over and records how late each wake-up was."""

    def __init__(self, interval_s: float = 0.05, keep: int = 12_000) -> None:
        self.interval_s = interval_s
        self.samples: deque[tuple[float, float]] = deque(maxlen=keep)  # (at, lag seconds)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="loop-lag-monitor")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(self.interval_s)
            now = time.perf_counter()
            self.samples.append((now, max(0.0, now - started - self.interval_s)))

    def summary(self, last_s: float = 60.0) -> dict[str, float]:
        """p50, p99 and max lag in milliseconds over the last ``last_s`` seconds."""
        cutoff = time.perf_counter() - last_s
        lags = sorted(lag for at, lag in self.samples if at >= cutoff)
        if not lags:
            return {"p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0, "samples": 0}

        def pick(q: float) -> float:
            return round(lags[min(len(lags) - 1, int(q * len(lags)))] * 1000, 2)

        return {
            "p50_ms": pick(0.5),
            "p99_ms": pick(0.99),
            "max_ms": pick(1.0),
            "samples": len(lags),
        }


def resident_mb() -> float | None:
    """This process's resident memory (Linux), or None elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None
