"""What the benchmarks share: the machine they ran on, the shipped tagger, the shared
AudioSet sample as a catalog, process memory and CPU readings, percentiles, and the
report's printing."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SHARED_AUDIOSET = ROOT.parent / "shared" / "data" / "audioset"
SHARED_PCA = SHARED_AUDIOSET / "vggish_pca_params.npz"


def shipped_tagger() -> dict[str, str]:
    """The tagger a deployment trains (Settings' defaults), so every figure is the shipped
    one (the test stand-ins train a short one)."""
    from recommender.config import Settings

    shipped = Settings()
    return {
        "TAGGER_STEPS": str(shipped.tagger_steps),
        "TAGGER_MEMBERS": str(shipped.tagger_members),
    }


def build_shared_catalog(data: Path) -> None:
    """The shared AudioSet sample ingested and indexed in ``data``, with the shipped tagger."""
    from scripts.standins.cli import run_cli

    run_cli(data, "ingest", "--audioset", str(SHARED_AUDIOSET), **shipped_tagger())
    run_cli(data, "reindex", **shipped_tagger())


def machine() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu or platform.processor(),
        "cores": os.cpu_count(),
        "memory_gb": round(memory_gb, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def rss_mb(pid: int) -> tuple[float, float]:
    """(the process's own RSS, its children's RSS) in MB."""
    import psutil

    process = psutil.Process(pid)
    children = sum(c.memory_info().rss for c in process.children(recursive=True))
    return process.memory_info().rss / 2**20, children / 2**20


def peak_rss_of_children(pid: int, stop: threading.Event, peak: list[float]) -> None:
    """Until ``stop``, the largest RSS (MB) of any one process under ``pid``, in ``peak[0]``."""
    import psutil

    while not stop.is_set():
        try:
            for child in psutil.Process(pid).children(recursive=True):
                peak[0] = max(peak[0], child.memory_info().rss / 2**20)
        except psutil.Error:
            pass
        time.sleep(0.2)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and everything under it, now."""
    import psutil

    total = 0.0
    try:
        root = psutil.Process(pid)
        for process in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
    except psutil.Error:
        pass
    return total


def at_share(ordered: Sequence[float], share: float) -> float:
    """The value at ``share`` of ``ordered`` (sorted), by rank and without interpolation:
    how the rerank and lookup figures have always taken their p50 and p99."""
    return ordered[int(len(ordered) * share)]


def percentiles(seconds: list[float]) -> dict:
    """p50, p99 (interpolated) and max of ``seconds``, in milliseconds."""
    import numpy as np

    ms = np.asarray(seconds) * 1000
    return {
        "requests": len(seconds),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        "max_ms": round(float(ms.max()), 1),
    }


def answered(discord: Any, record: dict) -> bool:
    """The member sees the answer: the deferred reply edited with its embed."""
    message = discord.messages.get(record.get("original") or 0)
    return bool(record.get("followups")) or bool(
        message and message["embeds"] and not message["flags"] & 128
    )


def emit(report: dict, as_json: bool, as_text: Callable[[dict], str] | None = None) -> None:
    """The report as indented JSON, or as text when the benchmark has a text form and
    ``--json`` was not given."""
    if as_json or as_text is None:
        print(json.dumps(report, indent=2))
    else:
        print(as_text(report))
