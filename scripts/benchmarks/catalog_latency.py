"""The ``cluster`` benchmark's catalog /recommend latency: one bot process on SQLite, then
the cluster, on the same catalog and the same requests."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from scripts.benchmarks.harness import answered, build_shared_catalog, percentiles


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
                if answered(discord, record):
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


def catalog_latency(
    tmp: Path, model: Path, pca: Path, requests: int, redis_url: str, postgres_url: str
) -> dict:
    """p50/p99 of a catalog /recommend: the single-process default (SQLite, in-process
    listening), then the cluster (2 bot processes x 2 shards, PostgreSQL, Redis, a
    shared index), in this run, on the same catalog and the same requests."""
    import sqlite3

    from scripts.cluster import Cluster
    from scripts.standins.bot_process import BotProcess
    from scripts.standins.discord_api import FakeDiscord
    from scripts.standins.oembed import OEmbedServer

    data = tmp / "catalog"
    build_shared_catalog(data)
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
        "single_process": percentiles(alone),
        "cluster": percentiles(clustered),
        "cluster_setup": "2 bot processes x 2 shards, 4 servers; PostgreSQL; Redis; 1 worker",
    }
