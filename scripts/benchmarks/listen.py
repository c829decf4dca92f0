"""``listen``: CPU seconds per audio second of ffmpeg decoding + VGGish inference against
inference alone, and peak memory, for 30 s and 5 min songs. Runs with a SavedModel of
VGGish's real architecture (random weights) unless VGGISH_MODEL names a real one.

Each song is measured in a fresh process (the hidden ``_listen_child`` command), so that
peak memory belongs to that measurement."""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scripts.benchmarks.harness import ROOT, SHARED_PCA, machine

HELP = "decoding + inference cost and peak memory"
CHILD = "_listen_child"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true")


def add_child_arguments(parser: argparse.ArgumentParser) -> None:
    for name in ("model", "pca", "song", "seconds"):
        parser.add_argument(name)


def run_child(args: argparse.Namespace) -> dict:
    return _listen_child(args.model, args.pca, args.song, float(args.seconds))


def _listen_child(model: str, pca: str, song: str, seconds: float) -> dict:
    """Runs in a fresh process, so that peak memory belongs to this measurement."""
    from recommender.listening.audio import decode, ffmpeg_path
    from recommender.listening.embedder import Embedder

    embedder = Embedder(model, Path(pca))
    ffmpeg = ffmpeg_path()
    wave = decode(Path(song), ffmpeg)
    embedder.frames(wave[: 16_000 * 5])  # trace the graph once, outside the timings

    def cpu() -> float:
        own = time.process_time()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own + children.ru_utime + children.ru_stime

    # The least of several rounds: the machine is shared, and noise only ever adds time.
    rounds = 5
    inference = pipeline = float("inf")
    for _ in range(rounds):
        started = cpu()
        embedder.frames(wave)
        inference = min(inference, cpu() - started)
        started = cpu()
        embedder.frames(decode(Path(song), ffmpeg))
        pipeline = min(pipeline, cpu() - started)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "audio_s": seconds,
        "inference_cpu_s_per_audio_s": round(inference / seconds, 4),
        "decode_plus_inference_cpu_s_per_audio_s": round(pipeline / seconds, 4),
        "overhead_ratio": round((pipeline - inference) / inference, 4),
        "peak_rss_mb": round(peak_mb, 1),
    }


def run(args: argparse.Namespace) -> dict:
    from scripts.standins.media import make_song
    from scripts.standins.vggish_architecture import build_vggish_architecture

    pca = os.environ.get("VGGISH_PCA_PARAMS") or str(SHARED_PCA)
    with tempfile.TemporaryDirectory(prefix="earshot-bench-") as tmp:
        model = os.environ.get("VGGISH_MODEL")
        model_note = model
        if not model:
            model = str(build_vggish_architecture(Path(tmp) / "vggish-architecture"))
            model_note = "VGGish architecture, random weights (real cost, not real outputs)"
        results = []
        for seconds in (30.0, 300.0):
            song = make_song(Path(tmp) / f"song-{int(seconds)}.mp3", seconds)
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "scripts.benchmarks",
                    CHILD,
                    model,
                    pca,
                    str(song),
                    str(seconds),
                ],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
            )
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {
        "benchmark": "listen",
        "model": model_note,
        "machine": machine(),
        "results": results,
        "targets": {"overhead_ratio_max": 0.20, "peak_rss_mb_5min_max": 1536},
    }


def as_text(report: dict) -> str:
    """The report for a reader: the machine, the model, one line per song length."""
    m = report["machine"]
    lines = [
        f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, Python {m['python']}",
        f"model: {report['model']}",
    ]
    for r in report["results"]:
        lines.append(
            f"{r['audio_s']:>5.0f} s audio: inference {r['inference_cpu_s_per_audio_s']:.4f} "
            f"CPU s/s, decode+inference {r['decode_plus_inference_cpu_s_per_audio_s']:.4f} "
            f"CPU s/s, overhead {100 * r['overhead_ratio']:.1f}% (target < 20%), "
            f"peak {r['peak_rss_mb']:.0f} MB (target < 1536 MB at 5 min)"
        )
    return "\n".join(lines)
