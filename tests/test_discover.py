"""/discover (issue 24): a described sound (genre, instrument, mood), alone or steered from
a song, through the one ranking pipeline; its autocomplete; its refusals; the command line;
and the bot's reply through the local Discord API, rated like /recommend's."""

from __future__ import annotations

import asyncio
import collections
import json
import shutil
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from recommender.catalog.vocabulary import DescriptionError
from recommender.engine import Engine
from scripts.standins.bot_process import BotProcess
from scripts.standins.cli import run_cli
from scripts.standins.discord_api import FakeDiscord
from tests.conftest import engine_settings
from tests.test_bot import catalog_video, member, outcome, ratings


def label_counts(data: Path) -> collections.Counter:
    """How many catalog clips carry each genre, instrument and mood, by name."""
    with sqlite3.connect(data / "earshot.sqlite3") as db:
        names = {
            i: n
            for i, n, k in db.execute("SELECT idx, name, kind FROM classes")
            if k in ("genre", "instrument", "mood")
        }
        counts: collections.Counter = collections.Counter()
        for (labels,) in db.execute("SELECT labels FROM tracks WHERE source != 'member'"):
            counts.update(names[int(x)] for x in labels.split() if int(x) in names)
    return counts


@pytest.fixture()
async def engine(built_catalog: Path, tmp_path: Path) -> AsyncIterator[Engine]:
    data = tmp_path / "data"
    shutil.copytree(built_catalog, data)
    opened = await Engine.open(engine_settings(data_dir=data))
    try:
        yield opened
    finally:
        await opened.close()


def carries(data: Path, track_id: int, name: str) -> bool:
    """Whether a catalog clip carries a label (shown or not: a reply leaves a parent out
    when its child is there)."""
    with sqlite3.connect(data / "earshot.sqlite3") as db:
        (labels,) = db.execute("SELECT labels FROM tracks WHERE id = ?", (track_id,)).fetchone()
        (index,) = db.execute("SELECT idx FROM classes WHERE name = ?", (name,)).fetchone()
    return str(index) in labels.split()


def kind_of(engine: Engine, name: str) -> str:
    return next(k for k, names in engine.vocabulary.labels.items() if name in names.values())


async def test_every_suggestion_carries_a_described_label(engine: Engine) -> None:
    data = engine.settings.data_dir
    for name, clips in label_counts(data).most_common(3):
        assert clips >= 10
        result = await engine.discover(**{kind_of(engine, name): name}, count=10)
        assert result.query.described == name and result.query.video_id == ""
        assert len(result.items) == 10
        assert all(carries(data, item.track_id, name) for item in result.items), name


async def test_words_members_type_find_the_label(engine: Engine) -> None:
    assert await engine.complete_label("mood", "sad") in (["Sad music"], [])
    assert engine.vocabulary.complete("genre", "hip hop") == ["Hip hop music"]
    assert engine.vocabulary.complete("genre", "rnb") == ["Rhythm and blues"]
    assert engine.vocabulary.complete("instrument", "sax") == ["Saxophone"]
    # Once the index's label profile is read (the first ask starts it, in the background),
    # only what the catalog has clips of is offered, most clips first.
    await engine.complete_label("instrument", "")
    for _ in range(100):
        if engine.index is not None and engine.index.has_label_profile:
            break
        await asyncio.sleep(0.05)
    offered = await engine.complete_label("instrument", "")
    counts = label_counts(engine.settings.data_dir)
    assert offered and all(counts[name] > 0 for name in offered)
    assert counts[offered[0]] == max(counts[n] for n in offered)
    result = await engine.discover(mood="sad" if counts["Sad music"] else None,
                                   instrument=offered[0], count=3)  # fmt: skip
    assert offered[0] in result.query.described


async def test_a_description_names_something_earshot_knows_or_is_refused(engine: Engine) -> None:
    with pytest.raises(DescriptionError, match="at least one of genre, instrument or mood"):
        await engine.discover(count=3)
    with pytest.raises(DescriptionError, match="'zzqx' is not a genre earshot knows"):
        await engine.discover(genre="zzqx")
    with pytest.raises(Exception, match="not a music service earshot knows"):
        await engine.discover(mood="happy", like="https://example.com/song")


async def test_like_steers_a_song_toward_the_description(engine: Engine) -> None:
    counts = label_counts(engine.settings.data_dir)
    data = engine.settings.data_dir
    song = catalog_video(data, 5)
    plain = await engine.recommend(song, 10)
    own = set(plain.query.labels)

    def share(result, label: str) -> float:
        hits = [carries(data, item.track_id, label) for item in result.items]
        return sum(hits) / len(hits)

    # a common label the song is not heard as, and few of its plain neighbours carry
    wanted = next(
        n for n, c in counts.most_common() if c >= 10 and n not in own and share(plain, n) <= 0.2
    )
    steered = await engine.discover(**{kind_of(engine, wanted): wanted}, like=song, count=10)
    assert steered.query.video_id == song and steered.query.described == wanted
    assert share(steered, wanted) >= max(2 * share(plain, wanted), 0.3)


def test_the_command_line_discovers(built_catalog: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(built_catalog, data)
    name = label_counts(data).most_common(1)[0][0]
    done = run_cli(data, "discover", "--instrument", name, "--count", "4", "--json")
    report = json.loads(done.stdout)
    assert report["query"]["described"] == name and len(report["items"]) == 4
    refused = run_cli(data, "discover", "--json", check=False)
    assert refused.returncode == 1 and "at least one of genre" in refused.stderr


def test_discover_through_the_bot_with_autocomplete_and_ratings(
    built_catalog: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(built_catalog, data)
    name = label_counts(data).most_common(1)[0][0]
    with FakeDiscord() as discord:
        bot = BotProcess(discord, data, tmp_path / "bot.log")
        bot.start()
        try:
            ana = member()
            choices = discord.autocomplete(ana, "discover", "instrument", name[:4].lower())
            assert name in [c["value"] for c in choices] and len(choices) <= 25
            moods = discord.autocomplete(ana, "discover", "mood", "", instrument=name)
            assert all(c["name"].endswith("music") for c in moods)
            record = discord.interaction(ana, "discover", instrument=name, count=4)
            answer = outcome(discord, record, reactions=5)
            assert answer["kind"] == "public", answer["content"]
            embed = answer["message"]["embeds"][0]
            assert embed["title"] == f"Looked for: {name}"
            assert embed["footer"]["text"].startswith("React 1️⃣–4️⃣")
            discord.react(ana, int(answer["message"]["id"]), "2️⃣")
            discord.wait_for(lambda: ratings(data, ana.id), 20, "the rating")
            assert list(ratings(data, ana.id).values()) == [1]
            refused = outcome(discord, discord.interaction(member(), "discover", genre="zzqx"))
            assert refused["kind"] == "immediate" and refused["ephemeral"]
            assert refused["content"].startswith("'zzqx' is not a genre earshot knows")
        finally:
            bot.stop()
