#!/usr/bin/env python
"""earshot benchmarks. Each prints its figures, ratios and the machine it ran on.

    python scripts/benchmark.py listen [--json]

``listen``: CPU seconds per audio second of ffmpeg decoding + VGGish inference against
inference alone, and peak memory, for 30 s and 5 min songs. Runs with a SavedModel of
VGGish's real architecture (random weights) unless VGGISH_MODEL names a real one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


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


def _listen_child(model: str, pca: str, song: str, seconds: float) -> dict:
    """Runs in a fresh process, so that peak memory belongs to this measurement."""
    from recommender.audio import decode, ffmpeg_path
    from recommender.embedder import Embedder

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


def cmd_listen(args: argparse.Namespace) -> dict:
    from scripts.vggish_architecture import build_vggish_architecture
    from tests.media import make_song

    shared = ROOT.parent / "shared" / "data" / "audioset" / "vggish_pca_params.npz"
    pca = os.environ.get("VGGISH_PCA_PARAMS") or str(shared)
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
                [sys.executable, __file__, "_listen_child", model, pca, str(song), str(seconds)],
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


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    listen = sub.add_parser("listen", help="decoding + inference cost and peak memory")
    listen.add_argument("--json", action="store_true")
    child = sub.add_parser("_listen_child")
    for name in ("model", "pca", "song", "seconds"):
        child.add_argument(name)
    args = parser.parse_args()
    if args.command == "_listen_child":
        print(json.dumps(_listen_child(args.model, args.pca, args.song, float(args.seconds))))
        return 0
    report = cmd_listen(args)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    m = report["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, Python {m['python']}")
    print(f"model: {report['model']}")
    for r in report["results"]:
        print(
            f"{r['audio_s']:>5.0f} s audio: inference {r['inference_cpu_s_per_audio_s']:.4f} "
            f"CPU s/s, decode+inference {r['decode_plus_inference_cpu_s_per_audio_s']:.4f} "
            f"CPU s/s, overhead {100 * r['overhead_ratio']:.1f}% (target < 20%), "
            f"peak {r['peak_rss_mb']:.0f} MB (target < 1536 MB at 5 min)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
