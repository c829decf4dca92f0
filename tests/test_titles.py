"""Suggestions a member can judge before clicking (issue 11): titles and channels from
oEmbed (a stand-in on 127.0.0.1 answering 200, 401, 404, 429 and slowly), kept in SQLite
with a time to live; dead videos never suggested; music labels only; a play-all link;
and the resumable `verify` sweep."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from recommender.engine import Engine
from recommender.errors import EarshotError
from recommender.ranking.presentation import MUSICAL_KINDS
from recommender.results import PLAY_ALL_URL
from recommender.sources.oembed import OEmbedClient, RateLimitedError
from recommender.video_facts import Status
from scripts.standins.cli import ROOT, cli_env
from scripts.standins.oembed import OEmbedServer, channel_of, title_of
from tests.conftest import engine_settings


@pytest.fixture()
def youtube() -> Iterator[OEmbedServer]:
    with OEmbedServer() as server:
        yield server


@pytest.fixture()
def data(built_catalog: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    shutil.copytree(built_catalog, folder)
    return folder


@asynccontextmanager
async def _engine(data: Path, youtube: OEmbedServer, **changes: object) -> AsyncIterator[Engine]:
    engine = await Engine.open(
        engine_settings(data_dir=data, test_oembed_base=youtube.base, **changes)
    )
    try:
        yield engine
    finally:
        await engine.close()


def _catalog_videos(data: Path, count: int = 5) -> list[str]:
    with sqlite3.connect(data / "earshot.sqlite3") as db:
        return [
            v
            for (v,) in db.execute(
                "SELECT DISTINCT video_id FROM tracks WHERE labels != '' ORDER BY id LIMIT ?",
                (count,),
            )
        ]


async def test_oembed_answers_become_facts(youtube: OEmbedServer) -> None:
    youtube.status_for.update(
        {"restrict001": 401, "gone0000001": 404, "limited0001": 429, "broken00001": 500}
    )
    youtube.slow_for["slowsong001"] = 3.0
    async with OEmbedClient(youtube.base) as client:
        live = await client.check("A1ak2lKtjTk")
        assert live is not None and live.status == Status.LIVE and live.playable
        assert (live.title, live.channel) == (title_of("A1ak2lKtjTk"), channel_of("A1ak2lKtjTk"))
        restricted = await client.check("restrict001")
        assert restricted is not None and restricted.status == Status.RESTRICTED
        gone = await client.check("gone0000001")
        assert gone is not None and gone.status == Status.GONE
        assert await client.check("broken00001") is None  # nothing learned
        with pytest.raises(RateLimitedError):
            await client.check("limited0001")
        with pytest.raises(ValueError, match="not a YouTube video id"):
            await client.check("../../etc/x")
        # The slow one (3 s) is left out, not waited for: waiting would have found it.
        found = await client.check_many(["slowsong001", "A1ak2lKtjTk"], budget_s=0.5)
        assert set(found) == {"A1ak2lKtjTk"}


async def test_replies_carry_titles_and_never_a_dead_video(
    data: Path, youtube: OEmbedServer
) -> None:
    query = _catalog_videos(data, 1)[0]
    async with _engine(data, youtube) as engine:
        first = await engine.recommend(query, 10)
        assert len(first.items) == 10
        assert all(i.title == title_of(i.video_id) and i.live for i in first.items)
        assert all(i.channel == channel_of(i.video_id) for i in first.items)
        assert first.query.title == title_of(query)
        # The second and fifth turn out gone and private: a fresh engine after the facts
        # expire must ask again, drop them, and fill their places.
        dead = {first.items[1].video_id: 404, first.items[4].video_id: 401}
        youtube.status_for.update(dead)
    async with _engine(data, youtube, facts_ttl_s=0.001) as engine:
        await asyncio.sleep(0.01)
        again = await engine.recommend(query, 10)
        assert len(again.items) == 10
        assert not {i.video_id for i in again.items} & set(dead)
    async with _engine(data, youtube) as engine:  # facts fresh again: no request at all
        asked = len(youtube.requests)
        third = await engine.recommend(query, 10)
        assert len(youtube.requests) == asked
        assert [i.video_id for i in third.items] == [i.video_id for i in again.items]
        stats = await engine.stats(videos=True)
        assert stats.videos["gone"] == 1 and stats.videos["restricted"] == 1


async def test_the_engine_refuses_counts_outside_its_range(
    data: Path, youtube: OEmbedServer
) -> None:
    query = _catalog_videos(data, 1)[0]
    async with _engine(data, youtube) as engine:
        asked = len(youtube.requests)
        for count in (0, -3, 21):
            with pytest.raises(EarshotError, match="Ask for 1 to 20 suggestions"):
                await engine.recommend(query, count)
        assert len(youtube.requests) == asked  # refused before anything was looked up


async def test_a_slow_check_shows_the_suggestion_without_a_title(
    data: Path, youtube: OEmbedServer
) -> None:
    youtube.delay_s = 5.0
    query = _catalog_videos(data, 2)[1]
    async with _engine(data, youtube, titles_budget_s=0.3) as engine:
        # Waiting out the 5 s answers would have brought the titles: none came.
        result = await engine.recommend(query, 5)
        assert len(result.items) == 5 and all(i.title == "" and not i.live for i in result.items)
        assert result.play_all_url is None  # only videos known to play go in the queue


async def test_labels_describe_music_and_play_all_lists_live_videos(
    data: Path, youtube: OEmbedServer
) -> None:
    with sqlite3.connect(data / "earshot.sqlite3") as db:
        kinds = {name: kind for name, kind in db.execute("SELECT name, kind FROM classes")}
        # A clip AudioSet also gave speech and room labels.
        (query,) = db.execute(
            "SELECT video_id FROM tracks WHERE ' ' || labels || ' ' LIKE '% 0 %' LIMIT 1"
        ).fetchone() or (None,)
    assert query, "the slice has no clip labelled Speech"
    async with _engine(data, youtube) as engine:
        result = await engine.recommend(query, 10)
    shown = set(result.query.labels) | {label for i in result.items for label in i.labels}
    assert shown and all(kinds[name] in MUSICAL_KINDS and name != "Music" for name in shown)
    for item in result.items:
        for reason in item.reasons:
            assert "speech" not in reason and "inside" not in reason
    live = [i.video_id for i in result.items if i.live]
    assert result.play_all_url == PLAY_ALL_URL + ",".join(live) and len(live) == 10


def _verify_env(data: Path, youtube: OEmbedServer, **extra: str) -> dict[str, str]:
    return cli_env(
        data,
        EARSHOT_TEST_OEMBED_BASE=youtube.base,
        EARSHOT_TEST_ALLOW_LOOPBACK="1",
        VERIFY_RATE="100",
        **extra,
    )


def _verify(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "recommender", "verify", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _facts(data: Path) -> int:
    with sqlite3.connect(data / "earshot.sqlite3") as db:
        return db.execute("SELECT COUNT(*) FROM video_facts").fetchone()[0]


def test_verify_sweeps_the_catalog_and_resumes_after_sigkill(
    data: Path, youtube: OEmbedServer
) -> None:
    with sqlite3.connect(data / "earshot.sqlite3") as db:
        videos = db.execute("SELECT COUNT(DISTINCT video_id) FROM tracks").fetchone()[0]
    youtube.delay_s = 0.002
    youtube.status_for.update({v: 404 for v in _catalog_videos(data, 3)})
    env = _verify_env(data, youtube)
    sweep = subprocess.Popen(
        [sys.executable, "-m", "recommender", "verify"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while _facts(data) < 150 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(sweep.pid, signal.SIGKILL)
    sweep.wait(30)
    saved = _facts(data)
    assert 150 <= saved < videos  # killed mid-way, with what it had saved kept
    done = _verify(env)
    assert done.returncode == 0, done.stderr
    assert _facts(data) == videos
    assert "3 gone" in done.stdout and "0 not checked yet" in done.stdout
    # Resumed, not restarted: at most one unsaved batch was asked twice.
    assert len(youtube.requests) <= videos + 50
    again = _verify(env, "--json")
    assert '"live": 0' in again.stdout  # nothing left to check


def test_a_gone_video_comes_back_when_a_later_check_finds_it(
    data: Path, youtube: OEmbedServer
) -> None:
    back = _catalog_videos(data, 1)[0]
    youtube.status_for[back] = 404
    env = _verify_env(data, youtube)
    first = _verify(env, "--json")
    assert first.returncode == 0 and '"gone": 1' in first.stdout, first.stderr
    del youtube.status_for[back]  # the uploader restored it
    later = _verify({**env, "VIDEO_FACTS_TTL_DAYS": "0"}, "--json")  # every fact is stale
    assert later.returncode == 0, later.stderr
    with sqlite3.connect(data / "earshot.sqlite3") as db:
        (status,) = db.execute(
            "SELECT status FROM video_facts WHERE video_id = ?", (back,)
        ).fetchone()
    assert status == "live"


def test_the_sweep_stops_when_youtube_stops_answering(data: Path, youtube: OEmbedServer) -> None:
    youtube.default_status = 503
    env = _verify_env(data, youtube)
    done = _verify(env)
    assert done.returncode == 1
    assert "did not answer 50 times in a row" in done.stderr
    assert "resumes where it stopped" in done.stderr
    assert len(youtube.requests) == 50


async def test_labels_show_the_most_telling_first(data: Path, youtube: OEmbedServer) -> None:
    """Genres, then instruments, then moods; a label under a more specific one shown is
    left out ("Guitar" beside "Acoustic guitar"), by AudioSet's own ontology."""
    with sqlite3.connect(data / "earshot.sqlite3") as db:
        rows = db.execute("SELECT idx, name, kind, parents FROM classes").fetchall()
        tracks = dict(db.execute("SELECT video_id, labels FROM tracks"))
    kind = {name: k for _, name, k, _ in rows}
    name_of = {idx: name for idx, name, _, _ in rows}
    parents = {idx: [int(p) for p in ps.split()] for idx, _, _, ps in rows}
    assert parents[name_of_index(rows, "Acoustic guitar")] == [name_of_index(rows, "Guitar")]

    def ancestors(idx: int) -> set[str]:
        found, stack = set(), list(parents[idx])
        while stack:
            p = stack.pop()
            if name_of[p] not in found:
                found.add(name_of[p])
                stack.extend(parents[p])
        return found

    index_of = {name: idx for idx, name, _, _ in rows}
    order = {"genre": 0, "instrument": 1, "mood": 2, "music": 3}
    left_out = 0
    async with _engine(data, youtube) as engine:
        for video in _catalog_videos(data, 6):
            for item in (await engine.recommend(video, 10)).items:
                shown = item.labels
                ranks = [order[kind[name]] for name in shown]
                assert ranks == sorted(ranks), shown
                above = set().union(*(ancestors(index_of[name]) for name in shown))
                assert not above & set(shown), shown
                raw = {name_of[int(i)] for i in tracks[item.video_id].split()}
                left_out += len(raw & above)
    assert left_out > 0  # the sample has clips labelled with a label and its parent


def name_of_index(rows: list[tuple[int, str, str, str]], name: str) -> int:
    return next(idx for idx, n, _, _ in rows if n == name)
