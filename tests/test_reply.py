"""The member's side of /recommend (issue 22), through the local Discord API with the real
bot process: refusals private from the first moment, a first response whose answer was
lost, the count asked for, and the reply's text."""

from __future__ import annotations

import re
import sqlite3

import pytest

from scripts.standins.discord_api import FakeDiscord
from scripts.standins.oembed import OEmbedServer
from tests import test_bot
from tests.test_bot import NUMBERS, SILENT_SONG, catalog_video, member, outcome

media, world = test_bot.media, test_bot.world  # fixtures: a bot of this module's own


def _messages_of(discord: FakeDiscord, record: dict) -> list[dict]:
    """Every message the bot made for an interaction, deleted or not."""
    return [
        m
        for m in list(discord.messages.values())
        if m.get("interaction_metadata", {}).get("id") == str(record["id"])
    ]


def _suggested(messages: list[dict]) -> list[str]:
    text = "\n".join(m["embeds"][0]["description"] for m in messages)
    link = r"\(https://www\.youtube\.com/watch\?v=([\w-]{11})"
    return re.findall(r"^\*\*\d+\.\*\* \[.*\]" + link, text, re.M)


def test_refusals_found_while_listening_are_private_from_the_first_response(world) -> None:
    discord, _, _, _ = world
    for song, said in (
        ("notthere000", "unavailable"),  # the video is gone
        (SILENT_SONG, "silent"),  # only found once it is heard
    ):
        record = discord.interaction(member(), "recommend", url=f"https://youtu.be/{song}")
        told = outcome(discord, record)
        assert told["kind"] == "private" and said in told["content"].lower(), told
        deferred = record["responses"][0]
        assert deferred["type"] == 5 and int(deferred["data"]["flags"]) & 64
        public = [m for m in _messages_of(discord, record) if not int(m["flags"]) & 64]
        assert public == [], "a refusal showed in the channel"


def test_an_answer_is_public_and_the_private_thinking_goes(world) -> None:
    discord, _, _, data = world
    record = discord.interaction(member(), "recommend", url=catalog_video(data, 30), count=3)
    answer = outcome(discord, record, reactions=4)
    assert answer["kind"] == "public" and len(answer["messages"]) == 1
    assert int(record["responses"][0]["data"]["flags"]) & 64  # it thought privately
    assert discord.messages[record["original"]].get("deleted")
    assert answer["message"]["bot_reactions"] == [*NUMBERS[:3], "👎"]


@pytest.mark.parametrize("how", ["502", "reset"])
def test_a_first_response_whose_answer_was_lost_carries_on(world, how: str) -> None:
    """Discord took the deferral, but its answer never came back (a 502 from its edge, and
    discord.py retried into "already acknowledged"; or the connection dropped)."""
    discord, _, bot, data = world
    discord.lose_next_answer = how
    record = discord.interaction(member(), "recommend", url=catalog_video(data, 31), count=2)
    answer = outcome(discord, record, reactions=3, timeout=60)
    assert answer["kind"] == "public" and len(_suggested(answer["messages"])) == 2
    assert len(record["responses"]) == 1  # one deferral, taken once
    log = bot.log_text()
    assert f"interaction {record['id']}: " in log and "carrying on" in log
    assert "another process answered" not in log and "Traceback" not in log


def test_the_count_asked_for_comes_when_many_videos_are_gone(world, oembed: OEmbedServer) -> None:
    """Half the catalog's videos are gone (about a quarter are, on YouTube today): the
    reply still has the count asked for, and none of them is gone."""
    discord, _, _, data = world
    with sqlite3.connect(data / "earshot.sqlite3") as db:
        videos = [v for (v,) in db.execute("SELECT video_id FROM tracks ORDER BY id")]
    asked = [catalog_video(data, n) for n in (40, 41, 42)]
    gone = {v: 404 for i, v in enumerate(videos) if i % 2 == 1 and v not in asked}
    oembed.status_for.update(gone)
    try:
        for song, count in zip(asked, (10, 19, 20), strict=True):
            record = discord.interaction(member(), "recommend", url=song, count=count)
            answer = outcome(discord, record, reactions=11, timeout=120)
            shown = _suggested(answer["messages"])
            assert len(shown) == count and not set(shown) & set(gone), (count, shown)
            assert "Only" not in answer["messages"][0]["embeds"][0]["description"]
    finally:
        for video in gone:
            oembed.status_for.pop(video, None)
