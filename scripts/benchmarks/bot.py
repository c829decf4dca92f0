"""``bot``: the bot under load on a local Discord API, with a catalog of the shared sample:
start-up, memory at rest, under load and after the listening workers stop, new-song
answers with cold and warm workers, a burst of 50 requests, and ``doctor``'s time."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from scripts.benchmarks.harness import (
    ROOT,
    SHARED_PCA,
    build_shared_catalog,
    machine,
    rss_mb,
    shipped_tagger,
)

HELP = "the bot under load against a local Discord API"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true")


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


def run(args: argparse.Namespace) -> dict:
    """The bot under load on a local Discord API, with a catalog of the shared sample."""
    from scripts.standins.bot_process import BotProcess
    from scripts.standins.discord_api import FakeDiscord, Member
    from scripts.standins.http_range import RangeServer
    from scripts.standins.media import make_song
    from scripts.standins.oembed import OEmbedServer
    from scripts.standins.vggish_architecture import build_vggish_architecture

    with tempfile.TemporaryDirectory(prefix="earshot-bench-") as tmp_name:
        tmp = Path(tmp_name)
        data = tmp / "data"
        started = time.perf_counter()
        build_shared_catalog(data)
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
                VGGISH_PCA_PARAMS=str(SHARED_PCA),
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
            start_bot, start_workers = rss_mb(bot.process.pid)  # no workers yet: first need

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
            rest_bot, rest_workers = rss_mb(bot.process.pid)

            peak = [rest_bot, rest_workers]
            stop = threading.Event()

            def sample() -> None:
                while not stop.is_set():
                    own, children = rss_mb(bot.process.pid)  # type: ignore[union-attr]
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
            idle_bot, idle_workers = rss_mb(bot.process.pid)
            bot.stop()
            doctor = _time_doctor(data, model, SHARED_PCA)
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
