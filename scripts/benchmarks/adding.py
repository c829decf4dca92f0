"""``adding``: how fast ``python -m recommender add`` fills a catalog with songs, and at
what memory: songs a minute for one listening worker and for two (MAX_CONCURRENT_REQUESTS)
from a folder, and for one from a Subsonic server (the stand-in, on loopback), with the
time 20,000 songs would take at the two-worker rate, and the largest process's peak
memory. Songs are 3-minute mp3s with tags; VGGish is a SavedModel of its real
architecture (random weights: the real cost) unless VGGISH_MODEL names a real one.

The rate is the steady one, from the first song stored to the last (``songs.added_at``):
the workers' start (TensorFlow and the model, once per run) is given beside it."""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from scripts.benchmarks.harness import ROOT, SHARED_PCA, machine, peak_rss_of_children

HELP = "songs a minute that add hears (folder and Subsonic), and peak memory"
LIBRARY_SONGS = 20_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--songs", type=int, default=24, help="songs per run (default 24)")
    parser.add_argument("--seconds", type=float, default=180.0, help="each song's length")
    parser.add_argument("--json", action="store_true")


def _run_add(data: Path, source: str, workers: int, env: dict[str, str]) -> dict:
    from scripts.standins.cli import cli_env

    stop, peak = threading.Event(), [0.0]
    started = time.time()
    process = subprocess.Popen(
        [sys.executable, "-m", "recommender", "add", source, "--no-links"],
        cwd=ROOT,
        env=cli_env(data, MAX_CONCURRENT_REQUESTS=str(workers), **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watcher = threading.Thread(target=peak_rss_of_children, args=(process.pid, stop, peak))
    watcher.start()
    out, err = process.communicate(timeout=3600)
    wall = time.time() - started
    stop.set()
    watcher.join()
    if process.returncode != 0:
        raise RuntimeError(f"add failed ({process.returncode}):\n{out}\n{err}")
    with sqlite3.connect(data / "earshot.sqlite3") as db:
        times = sorted(t for (t,) in db.execute("SELECT added_at FROM songs"))
    steady = (len(times) - 1) / (times[-1] - times[0]) * 60 if len(times) > 1 else 0.0
    return {
        "workers": workers,
        "songs": len(times),
        "wall_s": round(wall, 1),
        "until_first_song_s": round(times[0] - started, 1),
        "songs_per_minute": round(steady, 2),
        "peak_worker_rss_mb": round(peak[0], 1),
    }


def run(args: argparse.Namespace) -> dict:
    from scripts.standins.media import make_song
    from scripts.standins.subsonic import Album, SubsonicServer, Track
    from scripts.standins.vggish_architecture import build_vggish_architecture

    pca = os.environ.get("VGGISH_PCA_PARAMS") or str(SHARED_PCA)
    with tempfile.TemporaryDirectory(prefix="earshot-bench-adding-") as tmp:
        root = Path(tmp)
        model = os.environ.get("VGGISH_MODEL")
        model_note = model
        if not model:
            model = str(build_vggish_architecture(root / "vggish-architecture"))
            model_note = "VGGish architecture, random weights (real cost, not real outputs)"
        folder = root / "music"
        folder.mkdir()
        tracks = []
        for n in range(args.songs):
            tags = {"artist": f"Artist {n % 7}", "title": f"Song {n}", "album": f"Album {n % 3}"}
            song = make_song(folder / f"{n:03d}.mp3", args.seconds, tone=110.0 + 13 * n, tags=tags)
            tracks.append(
                Track(f"t{n}", f"Song {n}", f"Artist {n % 7}", "Album", int(args.seconds), song)
            )
        env = {"VGGISH_MODEL": model, "VGGISH_PCA_PARAMS": pca, "TF_CPP_MIN_LOG_LEVEL": "3"}
        runs = {}
        for name, workers in (("folder, 1 worker", 1), ("folder, 2 workers", 2)):
            runs[name] = _run_add(root / name.replace(" ", "_"), str(folder), workers, env)
        server = SubsonicServer(password="bench")
        server.add_album(Album("a", "Album", "Artist", tracks))
        with server:
            env_s = {**env, "SUBSONIC_USER": "earshot", "SUBSONIC_PASSWORD": "bench"}
            runs["subsonic, 1 worker"] = _run_add(root / "subsonic", server.url, 1, env_s)
    one, two = runs["folder, 1 worker"], runs["folder, 2 workers"]
    speedup = two["songs_per_minute"] / one["songs_per_minute"] if one["songs_per_minute"] else 0
    hours = LIBRARY_SONGS / two["songs_per_minute"] / 60 if two["songs_per_minute"] else 0
    return {
        "benchmark": "adding",
        "model": model_note,
        "machine": machine(),
        "song_seconds": args.seconds,
        "runs": runs,
        "speedup_two_workers": round(speedup, 2),
        "hours_for_20000_songs_two_workers": round(hours, 2),
    }


def as_text(report: dict) -> str:
    m = report["machine"]
    lines = [
        f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, Python {m['python']}",
        f"model: {report['model']}; songs of {report['song_seconds']:.0f} s",
    ]
    for name, r in report["runs"].items():
        lines.append(
            f"{name:20} {r['songs_per_minute']:6.2f} songs/min ({r['songs']} songs, "
            f"{r['wall_s']:.0f} s in all, the first after {r['until_first_song_s']:.0f} s), "
            f"peak {r['peak_worker_rss_mb']:.0f} MB per process"
        )
    lines.append(
        f"two workers: {report['speedup_two_workers']:.2f}x one; 20,000 songs: "
        f"{report['hours_for_20000_songs_two_workers']:.1f} h"
    )
    return "\n".join(lines)
