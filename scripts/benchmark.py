#!/usr/bin/env python
"""earshot benchmarks. Each prints its figures, ratios and the machine it ran on.

    python scripts/benchmark.py listen [--json]
    python scripts/benchmark.py bot [--json]
    python scripts/benchmark.py rerank [--clips N] [--json]
    python scripts/benchmark.py scale [--clips N] [--skew] [--keep DIR] [--json]
    python scripts/benchmark.py lookups DIR [--json]      # again, on a build kept by scale
    python scripts/benchmark.py titles [--videos N] [--json]
    python scripts/benchmark.py cluster [--songs N] [--json]
    python scripts/benchmark.py sources [--songs N] [--json]

``listen``: CPU seconds per audio second of ffmpeg decoding + VGGish inference against
inference alone, and peak memory, for 30 s and 5 min songs. Runs with a SavedModel of
VGGish's real architecture (random weights) unless VGGISH_MODEL names a real one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def shipped_tagger() -> dict[str, str]:
    """The tagger a deployment trains (Settings' defaults), so every figure is the shipped
    one (the test stand-ins train a short one)."""
    from recommender.config import Settings

    shipped = Settings()
    return {
        "TAGGER_STEPS": str(shipped.tagger_steps),
        "TAGGER_MEMBERS": str(shipped.tagger_members),
    }


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


def cmd_listen(args: argparse.Namespace) -> dict:
    from scripts.standins.media import make_song
    from scripts.standins.vggish_architecture import build_vggish_architecture

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


def _rss_mb(pid: int) -> tuple[float, float]:
    """(the process's own RSS, its children's RSS) in MB."""
    import psutil

    process = psutil.Process(pid)
    children = sum(c.memory_info().rss for c in process.children(recursive=True))
    return process.memory_info().rss / 2**20, children / 2**20


IDLE_S = 60  # LISTEN_IDLE_SECONDS in the bot benchmark (600 by default; shorter to measure)


def _time_doctor(data: Path, model: Path, pca: Path) -> dict:
    """``python -m recommender doctor`` on the benchmark's deployment, model cached."""
    from scripts.standins.bot_process import TOKEN
    from scripts.standins.cli import cli_env

    env = cli_env(
        data,
        VGGISH_MODEL=str(model),
        VGGISH_PCA_PARAMS=str(pca),
        DISCORD_TOKEN=TOKEN,
        TF_CPP_MIN_LOG_LEVEL="3",
    )
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "recommender", "doctor", "--json"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        runs.append(time.perf_counter() - started)
        report = json.loads(done.stdout)
    return {
        "wall_s": [round(r, 1) for r in runs],
        "target_s_max": 15,
        "ok": report["ok"],
        "failed": report["failed"],
    }


def cmd_bot(args: argparse.Namespace) -> dict:
    """The bot under load on a local Discord API, with a catalog of the shared sample."""
    import shutil
    import threading

    from scripts.standins.bot_process import BotProcess
    from scripts.standins.cli import run_cli
    from scripts.standins.discord_api import FakeDiscord, Member
    from scripts.standins.http_range import RangeServer
    from scripts.standins.media import make_song
    from scripts.standins.oembed import OEmbedServer
    from scripts.standins.vggish_architecture import build_vggish_architecture

    shared = ROOT.parent / "shared" / "data" / "audioset"
    with tempfile.TemporaryDirectory(prefix="earshot-bench-") as tmp_name:
        tmp = Path(tmp_name)
        data = tmp / "data"
        started = time.perf_counter()
        run_cli(data, "ingest", "--audioset", str(shared), **shipped_tagger())
        run_cli(data, "reindex", **shipped_tagger())
        catalog_s = time.perf_counter() - started
        model = build_vggish_architecture(tmp / "vggish")
        media = tmp / "media"
        media.mkdir()
        songs = [f"benchsong{i:02d}" for i in range(8)]
        cold_songs = ["benchcold00", "benchwarm00"]
        for i, song in enumerate(songs + cold_songs):
            make_song(media / f"{song}.mp3", 60.0, tone=110.0 * (1 + i % 4))
        owner = Member(1000, "owner")
        with (
            FakeDiscord(owner_id=owner.id) as discord,
            RangeServer(media) as youtube,
            OEmbedServer() as oembed,
        ):
            oembed.delay_range = (0.05, 0.15)  # titles as YouTube answers them
            bot = BotProcess(
                discord,
                data,
                tmp / "bot.log",
                VGGISH_MODEL=str(model),
                VGGISH_PCA_PARAMS=str(shared / "vggish_pca_params.npz"),
                EARSHOT_TEST_ALLOW_LOOPBACK="1",
                EARSHOT_TEST_MEDIA_BASE=youtube.url(""),
                EARSHOT_TEST_OEMBED_BASE=oembed.base,
                **shipped_tagger(),
                REQUEST_TIMEOUT_SECONDS="300",
                LISTEN_IDLE_SECONDS=str(IDLE_S),
            )
            ready_s = bot.start()
            assert bot.process is not None
            time.sleep(5)
            start_bot, start_workers = _rss_mb(bot.process.pid)  # no workers yet: first need

            def finished(record: dict) -> bool:
                return discord.public_reply(record) is not None or refused(record)

            def refused(record: dict) -> bool:
                told = discord.private_answer(record)
                return told is not None and told != "Here they come…"

            def one_new_song(i: int, song: str) -> float:
                asked = time.monotonic()
                record = discord.interaction(
                    Member(5000 + i, f"c{i}"), "recommend", song=f"https://youtu.be/{song}"
                )
                discord.wait_for(lambda: finished(record), 600, f"the answer for {song}")
                assert not refused(record), f"refused: {discord.private_answer(record)}"
                return time.monotonic() - asked

            cold_s = one_new_song(0, cold_songs[0])  # workers start and load the model
            warm_s = one_new_song(1, cold_songs[1])  # the same workers, warm
            rest_bot, rest_workers = _rss_mb(bot.process.pid)

            peak = [rest_bot, rest_workers]
            stop = threading.Event()

            def sample() -> None:
                while not stop.is_set():
                    own, children = _rss_mb(bot.process.pid)  # type: ignore[union-attr]
                    peak[0], peak[1] = max(peak[0], own), max(peak[1], children)
                    time.sleep(0.2)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            load_started = time.monotonic()
            reindex = discord.interaction(owner, "reindex")
            records = [
                discord.interaction(
                    Member(6000 + i, f"m{i}"), "recommend", song=f"https://youtu.be/{song}", count=5
                )
                for i, song in enumerate(songs)
            ]
            discord.wait_for(lambda: all(finished(r) for r in records), 600, "8 answers")
            answered_s = time.monotonic() - load_started
            discord.wait_for(
                lambda: "Index rebuilt" in discord.messages[reindex["original"]]["content"],
                600,
                "the rebuild",
            )
            load_s = time.monotonic() - load_started
            stop.set()
            sampler.join()
            minutes = max(1, int(load_s // 60) + 1)
            stats = discord.interaction(owner, "stats", minutes=minutes)
            discord.wait_for(lambda: stats.get("original"), 60, "/stats")
            embed = discord.messages[stats["original"]]["embeds"][0]
            health = next(f["value"] for f in embed["fields"] if f["name"] == "Health")
            errors = sum(1 for r in records if r.get("followups"))

            # Then 50 /recommend at once: catalog clips and unknown videos.
            import sqlite3

            with sqlite3.connect(data / "earshot.sqlite3") as db:
                clips = [
                    v
                    for (v,) in db.execute(
                        "SELECT video_id FROM tracks WHERE source = 'bal_train' LIMIT 40"
                    )
                ]
            time.sleep(61)  # a clean one-minute window for the lag figures
            burst_started = time.monotonic()
            burst = [
                discord.interaction(
                    Member(7000 + i, f"b{i}"),
                    "recommend",
                    song=clips[i] if i < 40 else f"missing{i:04d}",
                    count=5,
                )
                for i in range(50)
            ]
            discord.wait_for(lambda: all(finished(r) for r in burst), 600, "50 answers")
            burst_s = time.monotonic() - burst_started
            burst_stats = discord.interaction(owner, "stats", minutes=1)
            discord.wait_for(lambda: burst_stats.get("original"), 60, "/stats")
            burst_health = next(
                f["value"]
                for f in discord.messages[burst_stats["original"]]["embeds"][0]["fields"]
                if f["name"] == "Health"
            )
            burst_refused = sum(1 for r in burst if r.get("followups"))

            # Nobody asks for a new song: the workers stop, and the tree is the bot alone
            # (plus multiprocessing's small resource tracker).
            stops = (tmp / "bot.log").read_text().count("stopping the listening workers")
            idle_started = time.monotonic()
            while (tmp / "bot.log").read_text().count(
                "stopping the listening workers"
            ) == stops and time.monotonic() - idle_started < IDLE_S + 120:
                time.sleep(0.5)
            idle_after_s = time.monotonic() - idle_started
            time.sleep(5)  # the workers exit and are joined
            idle_bot, idle_workers = _rss_mb(bot.process.pid)
            bot.stop()
            doctor = _time_doctor(data, model, shared / "vggish_pca_params.npz")
        shutil.rmtree(data, ignore_errors=True)
    return {
        "benchmark": "bot",
        "machine": machine(),
        "catalog_clips": 8836,
        "catalog_build_s": round(catalog_s, 1),
        "start_to_ready_s": round(ready_s, 2),
        "rss_at_start_mb": {"bot": round(start_bot), "workers": round(start_workers)},
        "new_song_answer_s": {
            "cold_workers": round(cold_s, 2),
            "warm_workers": round(warm_s, 2),
            "added_by_cold_start": round(cold_s - warm_s, 2),
        },
        "rss_with_warm_workers_mb": {"bot": round(rest_bot), "workers": round(rest_workers)},
        "rss_at_rest_after_idle_mb": {
            "bot": round(idle_bot),
            "workers": round(idle_workers),
            "tree": round(idle_bot + idle_workers),
            "target_tree_max": 250,
            "workers_stopped_after_s": round(idle_after_s, 1),
            "listen_idle_seconds": IDLE_S,
        },
        "doctor": doctor,
        "rss_peak_under_load_mb": {"bot": round(peak[0]), "workers": round(peak[1])},
        "load": "8 /recommend for new videos (60 s songs) + /reindex, at once",
        "all_answered_s": round(answered_s, 1),
        "load_done_s": round(load_s, 1),
        "failed_answers": errors,
        "loop_lag_during_load": health,
        "burst": {
            "requests": 50,
            "answered_s": round(burst_s, 1),
            "answered_with_suggestions": 50 - burst_refused,
            "answered_with_a_clear_refusal": burst_refused,
            "loop_lag_last_minute": burst_health,
        },
        "model": "VGGish architecture, random weights",
    }


def cmd_rerank(args: argparse.Namespace) -> dict:
    """Re-ranking cost per request at a synthetic catalog of ``--clips`` items."""
    import asyncio

    import numpy as np

    from recommender.catalog.store import Store
    from recommender.index.tagger import TagModel
    from recommender.index.vector_index import IndexWriter, VectorIndex
    from recommender.index.vectors import VectorSpace
    from recommender.ranking.pipeline import Candidates, rerank, steer, suggest
    from recommender.ratings import Community, MemberRatings

    rng = np.random.default_rng(0)
    n, tags = args.clips, 138
    dim = 128 + tags
    with tempfile.TemporaryDirectory(prefix="earshot-rerank-") as tmp_name:
        tmp = Path(tmp_name)
        tagger = TagModel.untrained(range(tags))
        started = time.perf_counter()
        writer = IndexWriter(tmp / "index", n, dim, trees=args.trees)
        for first in range(0, n, 50_000):
            size = min(50_000, n - first)
            sound = rng.normal(size=(size, 128)).astype(np.float32)
            sound *= 0.1 / np.linalg.norm(sound, axis=1, keepdims=True)
            labels = (rng.random((size, tags)) < 3 / tags).astype(np.float32)
            writer.add(
                np.arange(first, first + size, dtype=np.int64) + 1, np.hstack([sound, labels])
            )
        writer.build()
        writer.commit(tagger, VectorSpace(tagger), {})
        build_s = time.perf_counter() - started
        index = VectorIndex.open_current(tmp / "index")
        assert index is not None

        async def ratings_query_ms() -> list[float]:
            store = await Store.open(tmp / "db.sqlite3")
            try:
                async with store.transaction():
                    await store.db.executemany(
                        "INSERT INTO replies VALUES (?, 1, 1, 1, 'q', 0)",
                        [(m,) for m in range(200)],
                    )
                    await store.db.executemany(
                        "INSERT INTO ratings VALUES (?, 1, ?, ?, ?, ?, ?, 0)",
                        [
                            (
                                u,
                                m,
                                p,
                                int(rng.integers(1, n)),
                                f"v{u}{m}{p}",
                                1 if rng.random() < 0.4 else -1,
                            )
                            for u in range(50)
                            for m in range(4)
                            for p in range(1, 11)
                        ],
                    )
                timings = []
                for user in range(50):
                    t = time.perf_counter()
                    await store.ratings_of(user)
                    timings.append((time.perf_counter() - t) * 1000)
                return timings
            finally:
                await store.close()

        load_ms = asyncio.run(ratings_query_ms())
        timings, rerank_timings = [], []
        for _ in range(args.requests):
            query = index.vector_at(int(rng.integers(0, n))).copy()
            query[128:] = -np.log1p(-np.clip(query[128:] * 0.8 + 0.05, 0, 0.99))
            rated = rng.choice(n, size=args.ratings, replace=False) + 1
            ratings = MemberRatings(
                {int(t): (1 if i % 3 else -1) for i, t in enumerate(rated)},
                {int(t): f"v{t}" for t in rated},
            )

            def describe(hits):  # what the store answers: videos and the server's signal
                return Candidates(
                    {h.track_id: f"v{h.track_id}" for h in hits},
                    community=Community(
                        likes={h.track_id: 2 for h in hits[:5]},
                        dislikes={h.track_id: 3 for h in hits[5:8]},
                        co_likes={h.track_id: 1 for h in hits[8:12]},
                    ),
                )

            t = time.perf_counter()
            suggest(index, query, ratings, describe, count=10)
            timings.append((time.perf_counter() - t) * 1000)
            # The re-ranking alone, as the pipeline runs it: steer, then re-rank the hits.
            t = time.perf_counter()
            steered = steer(index, query, ratings)
            steer_s = time.perf_counter() - t
            hits = index.search(steered, 40 + len(ratings.disliked()), overfetch=20)
            candidates = describe(hits)
            t = time.perf_counter()
            rerank(
                index,
                steered,
                hits,
                ratings,
                candidates.community,
                videos=candidates.videos,
                count=10,
            )
            rerank_timings.append((steer_s + time.perf_counter() - t) * 1000)
        index.close()
    timings.sort()
    rerank_timings.sort()
    return {
        "benchmark": "rerank",
        "rerank_only_ms": {
            "p50": round(rerank_timings[len(rerank_timings) // 2], 3),
            "p99": round(rerank_timings[int(len(rerank_timings) * 0.99)], 3),
            "max": round(rerank_timings[-1], 3),
        },
        "machine": machine(),
        "clips": n,
        "build_s": round(build_s, 1),
        "pipeline_ms": {
            "p50": round(timings[len(timings) // 2], 3),
            "p99": round(timings[int(len(timings) * 0.99)], 3),
            "max": round(timings[-1], 3),
        },
        "ratings_load_ms_p50": round(sorted(load_ms)[len(load_ms) // 2], 3),
        "requests": args.requests,
        "target_ms": 5.0,
        "ratings": args.ratings,
        "what": f"per request, with a taste from {args.ratings} ratings: the whole serving "
        "pipeline (ranking.suggest: steer, search, re-rank, widen), and the re-ranking "
        "alone (steer + re-rank of the hits; target p99 < 5 ms)",
    }


def _synthetic_clips(count: int, seed: int, skew: bool = False):
    """AudioSet-shaped clips with the statistics of the shared sample's music clips: each is
    a real clip mixed with up to half of another real clip that has the same specific labels
    (or, like it, none), plus noise, so label sets keep their real frequencies and sounds
    spread like real ones instead of piling up as near-copies. Yields ClipRecords.

    ``skew``: the labels of AudioSet's unbalanced release, where "Music" is on about a
    million clips and each genre or instrument on far fewer: half the clips carry only
    "Music", or "Music" and one generic music label ("Background music", "Song", ...), so
    their tags are the tagger's guesses and cannot narrow a search."""
    import collections

    import numpy as np

    from recommender.audioset.ontology import MUSIC, LabelKind, Ontology, find_tfrecords
    from recommender.audioset.tfrecord import ClipRecord, read_clips
    from recommender.index.tagger import WINDOW

    shared = ROOT.parent / "shared" / "data" / "audioset"
    ontology = Ontology.load(shared)
    specific = set(ontology.specific)
    real = [c for p in find_tfrecords(shared) for c in read_clips(p) if ontology.is_music(c.labels)]
    frames = np.zeros((len(real), WINDOW, 128), dtype=np.float32)
    lengths = np.array([min(len(c.frames), WINDOW) for c in real])
    same_labels: dict[tuple[int, ...], list[int]] = collections.defaultdict(list)
    for i, clip in enumerate(real):
        frames[i, : lengths[i]] = clip.frames[:WINDOW]
        same_labels[tuple(sorted(set(clip.labels) & specific))].append(i)
    partners = [np.array(same_labels[tuple(sorted(set(c.labels) & specific))]) for c in real]
    music = next(c.index for c in ontology.classes if c.mid == MUSIC)
    generic = [c.index for c in ontology.classes if c.kind == LabelKind.MUSIC and c.index != music]
    rng = np.random.default_rng(seed)
    for i in range(count):
        base = int(rng.integers(len(real)))
        partner = int(rng.choice(partners[base]))
        mix = rng.uniform(0.0, 0.5)
        mixed = (1 - mix) * frames[base] + mix * frames[partner]
        mixed += rng.normal(0.0, 8.0, mixed.shape)
        quantized = np.clip(np.rint(mixed[: lengths[base]]), 0, 255).astype(np.uint8)
        labels = real[base].labels
        if skew and rng.random() < 0.5:
            labels = (music,) if rng.random() < 0.5 else (music, int(rng.choice(generic)))
        yield ClipRecord(f"s{seed}-{i:09d}", 0.0, 10.0, labels, quantized)


def _synthetic_catalog(folder: Path, clips: int, seed: int = 0, skew: bool = False) -> None:
    """A folder like the AudioSet release with ``clips`` synthetic clips."""
    from recommender.audioset.tfrecord import write_clips

    shared = ROOT.parent / "shared" / "data" / "audioset"
    split = folder / "audioset_v1_embeddings" / "unbal_train"
    split.mkdir(parents=True)
    for name in ("class_labels_indices.csv", "ontology.json"):
        shutil.copyfile(shared / name, folder / name)
    per_file = 1000
    batch = []
    for i, clip in enumerate(_synthetic_clips(clips, seed, skew)):
        batch.append(clip)
        if len(batch) == per_file or i == clips - 1:
            write_clips(split / f"synthetic-{i // per_file:05d}.tfrecord", batch)
            batch = []


def _peak_rss_of_children(pid: int, stop: threading.Event, peak: list[float]) -> None:
    import psutil

    while not stop.is_set():
        try:
            for child in psutil.Process(pid).children(recursive=True):
                peak[0] = max(peak[0], child.memory_info().rss / 2**20)
        except psutil.Error:
            pass
        time.sleep(0.2)


def cmd_scale(args: argparse.Namespace) -> dict:
    """Ingest, build, lookups (with hnswlib and faiss as references) and bot start-up at N."""
    import asyncio

    import numpy as np

    from recommender.config import Settings
    from recommender.engine import Engine
    from scripts.standins.bot_process import BotProcess
    from scripts.standins.discord_api import FakeDiscord

    _install_anchors()
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
        _synthetic_catalog(tmp / "audioset", args.clips, skew=args.skew)
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
                    target=_peak_rss_of_children, args=(os.getpid(), stop, peak), daemon=True
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
            c.frames for c in _synthetic_clips(args.queries // 2, seed=1, skew=args.skew)
        ]
        queries = np.stack([index.query_vector(f) for f in query_frames])
        exact = [{h.position for h in index.exact_search(q, 10)} for q in queries]
        vectors = index.copy_rows()
        if args.keep:
            np.save(tmp / "queries.npy", queries)
            np.save(tmp / "exact.npy", np.array([sorted(t) for t in exact]))
        looked_up = _lookups(index, queries, exact, args.queries - args.queries // 2)
        report.update(looked_up)
        report["anchors"] = _anchors(vectors, queries, exact, looked_up["recall_at_10"])
        index.close()
        del vectors

        with FakeDiscord() as discord:
            bot = BotProcess(discord, data, tmp / "bot.log")
            report["startup_s"] = round(bot.start(), 2)
            time.sleep(3)
            own, _ = _rss_mb(bot.process.pid)  # type: ignore[union-attr]
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


def _install_anchors() -> None:
    """hnswlib and faiss, the scale benchmark's reference points: installed here (the
    versions of pyproject's ``bench`` extra) when missing, or the benchmark stops saying
    why. A comparison that was not made is never reported."""
    import importlib
    import tomllib

    try:
        importlib.import_module("hnswlib")
        importlib.import_module("faiss")
        return
    except ImportError:
        pass
    pinned = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["bench"]
    print(f"installing the reference libraries: {' '.join(pinned)}", file=sys.stderr)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", *pinned],
        capture_output=True,
        text=True,
    )
    importlib.invalidate_caches()
    try:
        importlib.import_module("hnswlib")
        importlib.import_module("faiss")
    except ImportError as exc:
        raise SystemExit(
            f"scale needs hnswlib and faiss as reference points and could not install them "
            f"({exc}); pip said:\n{done.stderr.strip()[-2000:]}\n"
            f"Install them with: {sys.executable} -m pip install -e '.[bench]'"
        ) from exc


def _lookups(
    index, queries, exact, catalog_queries: int, max_groups: int = 0, search_k: int = 0
) -> dict:
    """Recall@10 against exact search, p50 and p99 of ``queries`` at the shipped search
    settings (or the ``max_groups`` and ``search_k`` given); the first ``catalog_queries``
    are catalog clips, the rest new songs."""
    import numpy as np

    from recommender.config import Settings

    shipped = Settings()
    max_groups = max_groups or shipped.index_max_groups
    search_k = search_k or shipped.index_search_k or -1

    def lookup(q):
        return index.search(
            q,
            10,
            overfetch=shipped.index_overfetch,
            search_k=search_k,
            max_groups=max_groups,
        )

    # One untimed pass first: a serving bot's index pages are warm, and exact searches
    # have just read every vector once (the page cache's order, not the lookup's, would
    # otherwise set the tail).
    for q in queries:
        lookup(q)
    times, recall = [], []
    for q, truth in zip(queries, exact, strict=True):
        t = time.perf_counter()
        hits = lookup(q)
        times.append((time.perf_counter() - t) * 1000)
        recall.append(len({h.position for h in hits} & truth) / 10)
    times.sort()
    p50, p99 = times[len(times) // 2], times[int(len(times) * 0.99)]
    return {
        "search": {
            "max_groups": max_groups,
            "search_k": search_k,
            "overfetch": shipped.index_overfetch,
        },
        "recall_at_10_by_query": {
            "catalog_clips": round(float(np.mean(recall[:catalog_queries])), 4),
            "new_songs": round(float(np.mean(recall[catalog_queries:])), 4),
        },
        "recall_at_10": round(float(np.mean(recall)), 4),
        "p50_ms": round(p50, 3),
        "p99_ms": round(p99, 3),
        "p99_over_p50": round(p99 / p50, 1),
    }


def cmd_lookups(args: argparse.Namespace) -> dict:
    """The lookup figures of a build kept by ``scale --keep DIR``, again: its queries and
    exact answers, at the shipped search settings (to measure a search setting without
    building a million clips again)."""
    import numpy as np

    from recommender.index.vector_index import VectorIndex

    index = VectorIndex.open_current(args.dir / "data" / "index")
    if index is None:
        raise SystemExit(f"{args.dir} holds no build kept by scale --keep")
    queries = np.load(args.dir / "queries.npy")
    exact = [set(row.tolist()) for row in np.load(args.dir / "exact.npy")]
    report = {"benchmark": "lookups", "machine": machine(), "build": str(args.dir)}
    search = {"max_groups": args.max_groups, "search_k": args.search_k}
    report.update(_lookups(index, queries, exact, len(queries) - len(queries) // 2, **search))
    index.close()
    return report


def _anchors(vectors, queries, exact, target_recall: float) -> dict:
    """hnswlib and faiss on the same vectors, each tuned up to the same recall: recall,
    p50 and p99 at the first setting that reaches it (or the last tried)."""
    import numpy as np

    def measure(search) -> dict:
        times, recall = [], []
        for q, truth in zip(queries, exact, strict=True):
            t = time.perf_counter()
            found = search(q)
            times.append((time.perf_counter() - t) * 1000)
            recall.append(len(set(found) & truth) / 10)
        times.sort()
        return {
            "recall_at_10": round(float(np.mean(recall)), 4),
            "p50_ms": round(times[len(times) // 2], 3),
            "p99_ms": round(times[int(len(times) * 0.99)], 3),
        }

    return {
        "hnswlib": _hnswlib_anchor(vectors, measure, target_recall),
        "faiss_ivf": _faiss_anchor(vectors, measure, target_recall),
    }


def _hnswlib_anchor(vectors, measure, target_recall: float) -> dict:
    import hnswlib

    # Plain inner product. The usual reduction to Euclidean search (one more coordinate
    # so every item has the same norm) did worse here: recall 0.29 against 0.50 at
    # 1,000,000 clips, M 16, ef 1,024.
    started = time.perf_counter()
    graph = hnswlib.Index(space="ip", dim=vectors.shape[1])
    graph.init_index(max_elements=len(vectors), ef_construction=200, M=32)
    graph.add_items(vectors)
    build_s = time.perf_counter() - started
    graph.set_num_threads(1)
    for ef in (16, 32, 64, 128, 256, 512, 1024, 2048):
        graph.set_ef(ef)
        found = measure(lambda q: graph.knn_query(q, k=10)[0][0].tolist())
        if found["recall_at_10"] >= target_recall or ef == 2048:
            break
    return {**found, "ef": ef, "M": 32, "ef_construction": 200, "build_s": round(build_s, 1)}


def _faiss_anchor(vectors, measure, target_recall: float) -> dict:
    import faiss
    import numpy as np

    started = time.perf_counter()
    flat = faiss.IndexFlatIP(vectors.shape[1])
    lists = max(16, int(np.sqrt(len(vectors))))
    ivf = faiss.IndexIVFFlat(flat, vectors.shape[1], lists, faiss.METRIC_INNER_PRODUCT)
    sample = np.random.default_rng(0).choice(
        len(vectors), min(len(vectors), 50 * lists), replace=False
    )
    ivf.train(vectors[sample])
    ivf.add(vectors)
    build_s = time.perf_counter() - started
    faiss.omp_set_num_threads(1)  # one query at a time, like earshot's lookups
    for probe in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512):
        ivf.nprobe = probe
        found = measure(lambda q: ivf.search(q[None, :], 10)[1][0].tolist())
        if found["recall_at_10"] >= target_recall or probe == 512:
            break
    return {**found, "nprobe": probe, "lists": lists, "build_s": round(build_s, 1)}


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

    from recommender.catalog.store import MIGRATIONS

    db_path = folder / "earshot.sqlite3"
    started = time.perf_counter()
    with sqlite3.connect(db_path) as db:
        for migration in MIGRATIONS:
            db.executescript(migration)
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


def cmd_titles(args: argparse.Namespace) -> dict:
    """What titles cost a reply (oEmbed answering in 50 to 150 ms), and the sweep's rate
    and memory at a catalog of --videos videos."""
    from scripts.standins.cli import run_cli
    from scripts.standins.oembed import OEmbedServer

    shared = ROOT.parent / "shared" / "data" / "audioset"
    with tempfile.TemporaryDirectory(prefix="earshot-titles-") as tmp_name, OEmbedServer() as yt:
        tmp = Path(tmp_name)
        data = tmp / "data"
        run_cli(data, "ingest", "--audioset", str(shared))
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


def _cpu_seconds(pid: int) -> float:
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


def _fleet(
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
                songs = iter(_video_ids(f"fleet{n}x", n * rounds))

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
                        ran = await _job_run_s(queue.redis, settings, song, version)
                        if ran is not None:
                            hops.append(waited - ran)

                def cpu_now() -> dict[str, float]:
                    me = psutil.Process().cpu_times()
                    return {
                        "redis": _cpu_seconds(redis._process.pid),
                        "postgres": _cpu_seconds(postgres._process.pid),
                        "workers": sum(_cpu_seconds(p.pid) for p in procs),
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


async def _job_run_s(redis, settings, song: str, version: str) -> float | None:
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
                    ran = await _job_run_s(queue.redis, settings, video, version)
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


def _answered(discord, record: dict) -> bool:
    """The member sees the answer: the deferred reply edited with its embed."""
    message = discord.messages.get(record.get("original") or 0)
    return bool(record.get("followups")) or bool(
        message and message["embeds"] and not message["flags"] & 128
    )


def _reply_latencies(discord, urls: list[str], guilds: list[int | None]) -> list[float]:
    """Seconds from each /recommend to its answer, one request at a time (a fine poll,
    not FakeDiscord.wait_for's 50 ms, since these answers take tens of milliseconds)."""
    from scripts.standins.discord_api import Member

    seconds = []
    for i, url in enumerate(urls):
        who = Member(700_000 + i, f"bench{i}")
        guild = guilds[i % len(guilds)]
        started = time.perf_counter()
        record = discord.interaction(who, "recommend", guild_id=guild, song=url, count=5)
        deadline = started + 60
        while True:
            with discord.lock:
                if _answered(discord, record):
                    break
            if time.perf_counter() > deadline:
                raise AssertionError(f"no answer to {url} in 60 s")
            time.sleep(0.002)
        seconds.append(time.perf_counter() - started)
        # The answer is posted for the channel (a follow-up with the suggestions' embed,
        # after a private "Here they come…"); a refusal is private (flag 64).
        posted = [discord.messages[m] for m in record.get("followups", [])]
        if not any(m.get("embeds") and not m["flags"] & 64 for m in posted):
            said = posted[0]["content"] if posted else "nothing"
            raise AssertionError(f"{url} was refused: {said!r}")
    return seconds


def _percentiles(seconds: list[float]) -> dict:
    import numpy as np

    ms = np.asarray(seconds) * 1000
    return {
        "requests": len(seconds),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        "max_ms": round(float(ms.max()), 1),
    }


def _catalog_latency(
    tmp: Path, model: Path, pca: Path, requests: int, redis_url: str, postgres_url: str
) -> dict:
    """p50/p99 of a catalog /recommend: the single-process default (SQLite, in-process
    listening), then the cluster (2 bot processes x 2 shards, PostgreSQL, Redis, a
    shared index), in this run, on the same catalog and the same requests."""
    import sqlite3

    from scripts.cluster import Cluster
    from scripts.standins.bot_process import BotProcess
    from scripts.standins.cli import run_cli
    from scripts.standins.discord_api import FakeDiscord
    from scripts.standins.oembed import OEmbedServer

    shared = ROOT.parent / "shared" / "data" / "audioset"
    data = tmp / "catalog"
    run_cli(data, "ingest", "--audioset", str(shared), **shipped_tagger())
    run_cli(data, "reindex", **shipped_tagger())
    with sqlite3.connect(data / "earshot.sqlite3") as db:
        videos = [
            v
            for (v,) in db.execute(
                "SELECT DISTINCT video_id FROM tracks WHERE source != 'member' ORDER BY id LIMIT ?",
                (requests,),
            )
        ]
    urls = [f"https://www.youtube.com/watch?v={v}" for v in videos]
    media = tmp / "no-media"
    media.mkdir()
    with OEmbedServer() as oembed:
        os.environ.update(
            {"EARSHOT_TEST_ALLOW_LOOPBACK": "1", "EARSHOT_TEST_OEMBED_BASE": oembed.base}
        )
        single = tmp / "single"
        shutil.copytree(data, single)
        with FakeDiscord() as discord:
            bot = BotProcess(
                discord,
                single,
                tmp / "single.log",
                VGGISH_MODEL=str(model),
                VGGISH_PCA_PARAMS=str(pca),
            )
            bot.start()
            try:
                _reply_latencies(discord, urls[:10], [None])  # warm: caches, connections
                alone = _reply_latencies(discord, urls, [None])
            finally:
                bot.stop()
        with Cluster(
            tmp / "cluster",
            data,
            model,
            pca,
            media,
            bots=2,
            workers=1,
            redis_url=redis_url,
            postgres_url=postgres_url,
        ) as cluster:
            guilds: list[int | None] = list(cluster.guild_ids)
            _reply_latencies(cluster.discord, urls[:10], guilds)
            clustered = _reply_latencies(cluster.discord, urls, guilds)
    return {
        "single_process": _percentiles(alone),
        "cluster": _percentiles(clustered),
        "cluster_setup": "2 bot processes x 2 shards, 4 servers; PostgreSQL; Redis; 1 worker",
    }


def _video_ids(prefix: str, count: int) -> list[str]:
    """``count`` distinct 11-character ids that start with ``prefix``."""
    return [f"{prefix}{i:0{11 - len(prefix)}d}" for i in range(count)]


def cmd_cluster(args: argparse.Namespace) -> dict:
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

    pca = ROOT.parent / "shared" / "data" / "audioset" / "vggish_pca_params.npz"
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
            run: _video_ids(f"w{run[0]}{'p' if run[1] else ''}r{run[2]}song", args.songs)
            for run in runs
        }
        warm = _video_ids("warm", len(runs) + 1)
        solo = {k: _video_ids(f"{k}solo", args.sequential) for k in ("own", "hop")}
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
        fleet = _fleet(
            tmp, model, pca, redis, postgres, args.fleet, args.fleet_sleep, args.fleet_rounds
        )
        try:
            catalog = _catalog_latency(tmp, model, pca, args.requests, redis.url, postgres.url)
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
        "fleet": fleet,
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


def cmd_sources(args: argparse.Namespace) -> dict:
    """Request to answer, through the bot and the local Discord API, for each way to name a
    song, each against its stand-in: a new YouTube video, a Spotify, Deezer and Apple Music
    preview, words (YouTube Music's search, then the video found), a SoundCloud and a
    Bandcamp track, a file attached to /recommend, and a voice message under Find similar
    music. Every song is new (nothing cached), and each is asked alone."""
    import shutil

    import numpy as np

    from scripts.standins.bot_process import BotProcess
    from scripts.standins.cli import run_cli
    from scripts.standins.discord_api import FakeDiscord, Member
    from scripts.standins.http_range import RangeServer
    from scripts.standins.media import make_song
    from scripts.standins.music_apis import MusicApis
    from scripts.standins.oembed import OEmbedServer
    from scripts.standins.vggish_architecture import build_vggish_architecture
    from scripts.standins.youtube_search import Result, YouTubeSearch

    shared = ROOT.parent / "shared" / "data" / "audioset"
    n = args.songs
    with tempfile.TemporaryDirectory(prefix="earshot-bench-") as tmp_name:
        tmp = Path(tmp_name)
        data = tmp / "data"
        run_cli(data, "ingest", "--audioset", str(shared), **shipped_tagger())
        run_cli(data, "reindex", **shipped_tagger())
        model = build_vggish_architecture(tmp / "vggish")
        media, previews = tmp / "media", tmp / "previews"
        for folder in (media, media / "soundcloud:bench", media / "bandcamp:bench", previews):
            folder.mkdir(parents=True)
        tone = iter(range(1000))
        for i in range(n):  # four-minute songs; 30 s previews, a 20 s voice message
            for path in (
                media / f"benchyt{i:04d}.mp3",
                media / f"benchwd{i:04d}.mp3",
                media / "soundcloud:bench" / f"track-{i}.mp3",
                media / "bandcamp:bench" / f"track-{i}.mp3",
                tmp / f"upload-{i}.mp3",
            ):
                make_song(path, 240.0, tone=110.0 + 7 * next(tone))
            make_song(previews / f"preview-{i}.mp3", 30.0, tone=110.0 + 7 * next(tone))
            make_song(tmp / f"voice-{i}.ogg", 20.0, tone=110.0 + 7 * next(tone))
        make_song(media / "benchwarmup.mp3", 240.0, tone=97.0)
        with (
            FakeDiscord() as discord,
            RangeServer(media) as youtube,
            OEmbedServer() as oembed,
            MusicApis(previews) as apis,
            YouTubeSearch() as search,
        ):
            forms: dict[str, list] = {name: [] for name in (
                "youtube", "spotify", "deezer", "apple_music", "words", "soundcloud",
                "bandcamp", "file", "voice_message",
            )}  # fmt: skip
            for i in range(n):
                spotify_id = f"{i:022d}".replace("0", "A")
                apis.add_spotify(spotify_id, f"Song {i}", ["Artist"], 200, f"preview-{i}.mp3")
                apis.add_deezer(str(900 + i), f"Song {i}", "Artist", 200, f"preview-{i}.mp3")
                apis.add_apple(str(800 + i), f"Song {i}", "Artist", 200, f"preview-{i}.mp3")
                search.add(
                    f"the bench band song number {i}",
                    songs=[Result(f"benchwd{i:04d}", f"Song Number {i}", "The Bench Band", 240)],
                )
                forms["youtube"].append({"song": f"https://youtu.be/benchyt{i:04d}"})
                forms["spotify"].append({"song": f"https://open.spotify.com/track/{spotify_id}"})
                forms["deezer"].append({"song": f"https://www.deezer.com/track/{900 + i}"})
                forms["apple_music"].append(
                    {"song": f"https://music.apple.com/us/album/x/1?i={800 + i}"}
                )
                forms["words"].append({"song": f"the bench band song number {i}"})
                forms["soundcloud"].append({"song": f"https://soundcloud.com/bench/track-{i}"})
                forms["bandcamp"].append({"song": f"https://bench.bandcamp.com/track/track-{i}"})
                forms["file"].append({"file": discord.upload(tmp / f"upload-{i}.mp3")})
                voice = discord.upload(tmp / f"voice-{i}.ogg", voice=True, duration_s=20.0)
                forms["voice_message"].append({"message": [voice]})
            bot = BotProcess(
                discord,
                data,
                tmp / "bot.log",
                VGGISH_MODEL=str(model),
                VGGISH_PCA_PARAMS=str(shared / "vggish_pca_params.npz"),
                EARSHOT_TEST_ALLOW_LOOPBACK="1",
                EARSHOT_TEST_MEDIA_BASE=youtube.url(""),
                EARSHOT_TEST_OEMBED_BASE=oembed.base,
                EARSHOT_TEST_MUSIC_BASE=apis.base,
                EARSHOT_TEST_YOUTUBE_PROXY=search.url,
                EARSHOT_TEST_YOUTUBE_CA=str(search.ca_file),
                **shipped_tagger(),
                REQUEST_TIMEOUT_SECONDS="300",
            )
            bot.start()
            who = iter(range(90_000, 99_000))

            def ask(options: dict) -> float:
                member = Member(next(who), "bench")
                started = time.perf_counter()
                if "message" in options:
                    post = discord.post(member, "", attachments=options["message"])
                    record = discord.message_command(member, "Find similar music", post)
                else:
                    record = discord.interaction(member, "recommend", count=5, **options)
                discord.wait_for(lambda: _answered(discord, record), 600, "an answer")
                seconds = time.perf_counter() - started
                original = discord.messages.get(record.get("original") or 0) or {}
                posted = [discord.messages[m] for m in record.get("followups", [])]
                said = [m for m in [original, *posted] if m.get("embeds")]
                assert said, f"refused: {original.get('content')}"
                return seconds

            try:
                ask({"song": "https://youtu.be/benchwarmup"})  # the workers load the model
                figures = {}
                for name, asked in forms.items():
                    seconds = np.asarray([ask(options) for options in asked])
                    figures[name] = {
                        "songs": len(seconds),
                        "p50_s": round(float(np.percentile(seconds, 50)), 2),
                        "max_s": round(float(seconds.max()), 2),
                    }
            finally:
                bot.stop()
        shutil.rmtree(data, ignore_errors=True)
    youtube_p50 = figures["youtube"]["p50_s"]
    for figure in figures.values():
        figure["ratio_to_youtube"] = round(figure["p50_s"] / youtube_p50, 2)
    return {
        "benchmark": "sources",
        "machine": machine(),
        "what": "request to answer through the bot, one new song at a time, warm workers",
        "songs": "4 min songs (two 30 s sections heard), 30 s previews, a 20 s voice message",
        "sources": figures,
        "model": "VGGish architecture, random weights",
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    listen = sub.add_parser("listen", help="decoding + inference cost and peak memory")
    listen.add_argument("--json", action="store_true")
    bot = sub.add_parser("bot", help="the bot under load against a local Discord API")
    bot.add_argument("--json", action="store_true")
    rerank = sub.add_parser("rerank", help="re-ranking cost per request at catalog scale")
    rerank.add_argument("--clips", type=int, default=1_000_000)
    rerank.add_argument(
        "--trees",
        type=int,
        default=2,
        help="Annoy trees (few: this measures re-ranking, not lookups)",
    )
    rerank.add_argument("--requests", type=int, default=500)
    rerank.add_argument("--ratings", type=int, default=200, help="ratings behind the taste")
    rerank.add_argument("--json", action="store_true")
    scale = sub.add_parser("scale", help="a synthetic catalog of N clips, end to end")
    scale.add_argument("--clips", type=int, default=1_000_000)
    scale.add_argument("--queries", type=int, default=1000)
    scale.add_argument(
        "--skew",
        action="store_true",
        help="AudioSet's real skew: half the clips carry only 'Music' or one generic label",
    )
    scale.add_argument("--json", action="store_true")
    scale.add_argument(
        "--keep", type=Path, metavar="DIR", help="build in DIR (new) and keep it afterwards"
    )
    lookups = sub.add_parser("lookups", help="lookups again on a build kept by scale --keep")
    lookups.add_argument("dir", type=Path)
    lookups.add_argument("--max-groups", type=int, default=0, help="INDEX_MAX_GROUPS to try")
    lookups.add_argument("--search-k", type=int, default=0, help="INDEX_SEARCH_K to try")
    lookups.add_argument("--json", action="store_true")
    titles = sub.add_parser("titles", help="what titles cost a reply; the verify sweep at scale")
    titles.add_argument("--queries", type=int, default=60)
    titles.add_argument("--videos", type=int, default=1_000_000)
    titles.add_argument("--checked", type=int, default=3000)
    titles.add_argument("--json", action="store_true")
    cluster = sub.add_parser("cluster", help="listening workers on the queue; the cluster")
    cluster.add_argument("--songs", type=int, default=24, help="new songs per throughput run")
    cluster.add_argument(
        "--repeats", type=int, default=3, help="runs of the one-core-each pair, alternating"
    )
    cluster.add_argument("--sequential", type=int, default=5, help="songs for the hop figure")
    cluster.add_argument("--requests", type=int, default=200, help="catalog /recommend calls")
    cluster.add_argument(
        "--fleet",
        type=lambda text: tuple(int(x) for x in text.split(",")),
        default=(8, 32, 128),
        help="simulated fleet sizes (workers), comma-separated",
    )
    cluster.add_argument("--fleet-sleep", type=float, default=1.0, help="a simulated listen, s")
    cluster.add_argument("--fleet-rounds", type=int, default=10, help="jobs per simulated worker")
    cluster.add_argument("--json", action="store_true")
    sources = sub.add_parser("sources", help="request to answer for each way to name a song")
    sources.add_argument("--songs", type=int, default=3, help="new songs per way")
    sources.add_argument("--json", action="store_true")
    child = sub.add_parser("_listen_child")
    for name in ("model", "pca", "song", "seconds"):
        child.add_argument(name)
    args = parser.parse_args()
    if args.command == "_listen_child":
        print(json.dumps(_listen_child(args.model, args.pca, args.song, float(args.seconds))))
        return 0
    if args.command in ("bot", "rerank", "scale", "titles", "cluster", "sources", "lookups"):
        commands = {
            "sources": cmd_sources,
            "bot": cmd_bot,
            "rerank": cmd_rerank,
            "scale": cmd_scale,
            "lookups": cmd_lookups,
            "titles": cmd_titles,
            "cluster": cmd_cluster,
        }
        report = commands[args.command](args)
        print(json.dumps(report, indent=2))
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
