"""The member's side of /recommend (issue 22), through the local Discord API with the real
bot process: refusals private from the first moment, a first response whose answer was
lost, the count asked for, and the reply's text."""

from __future__ import annotations

import re
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scripts.standins.bot_process import BotProcess
from scripts.standins.discord_api import FakeDiscord, Member
from scripts.standins.media import make_song
from scripts.standins.music_apis import MusicApis
from scripts.standins.oembed import OEmbedServer
from scripts.standins.youtube_search import Result, YouTubeSearch
from tests import test_bot
from tests.test_bot import (
    NUMBERS,
    SILENT_SONG,
    catalog_video,
    member,
    outcome,
    ratings,
    recommend,
)

media, world = test_bot.media, test_bot.world  # fixtures: a bot of this module's own


REASON = r"liked by \d+ members? here|liked with your likes by \d+ members?|a close match in sound"


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
        record = discord.interaction(member(), "recommend", song=f"https://youtu.be/{song}")
        told = outcome(discord, record)
        assert told["kind"] == "private" and said in told["content"].lower(), told
        deferred = record["responses"][0]
        assert deferred["type"] == 5 and int(deferred["data"]["flags"]) & 64
        public = [m for m in _messages_of(discord, record) if not int(m["flags"]) & 64]
        assert public == [], "a refusal showed in the channel"


def test_an_answer_is_public_and_the_private_thinking_goes(world) -> None:
    discord, _, _, data = world
    record = discord.interaction(member(), "recommend", song=catalog_video(data, 30), count=3)
    answer = outcome(discord, record, reactions=4)
    assert answer["kind"] == "public" and len(answer["messages"]) == 1
    assert int(record["responses"][0]["data"]["flags"]) & 64  # it thought privately
    assert discord.messages[record["original"]].get("deleted")
    assert answer["message"]["bot_reactions"] == [*NUMBERS[:3], "👎"]
    # Read on a phone (item 5): two lines a suggestion at most, three labels at most,
    # joined by " · ", every emphasis closed, and no reason that only repeats labels.
    lines = answer["message"]["embeds"][0]["description"].splitlines()
    starts = [n for n, line in enumerate(lines) if re.match(r"\*\*\d+\.\*\* \[", line)]
    assert len(starts) == 3
    for n in starts:
        details = lines[n + 1 : n + 2] if n + 1 < len(lines) else []
        details = [d for d in details if not re.match(r"\*\*\d+\.\*\* ", d)]
        for line in details:
            labels = line.split(" — ")[0]
            assert labels.count(" · ") <= 2 and ";" not in labels, line
            assert re.sub(r"\\.", "", line).count("*") % 2 == 0, line
            for reason in re.findall(r"\*([^*]+)\*", line):
                for part in reason.split("; "):
                    assert re.fullmatch(REASON, part), part


@pytest.mark.parametrize("how", ["502", "reset"])
def test_a_first_response_whose_answer_was_lost_carries_on(world, how: str) -> None:
    """Discord took the deferral, but its answer never came back (a 502 from its edge, and
    discord.py retried into "already acknowledged"; or the connection dropped)."""
    discord, _, bot, data = world
    discord.lose_next_answer = how
    record = discord.interaction(member(), "recommend", song=catalog_video(data, 31), count=2)
    answer = outcome(discord, record, reactions=3, timeout=60)
    assert answer["kind"] == "public" and len(_suggested(answer["messages"])) == 2
    assert len(record["responses"]) == 1  # one deferral, taken once
    log = bot.log_text()
    assert f"interaction {record['id']}: " in log and "carrying on" in log
    assert "another process answered" not in log and "Traceback" not in log


def test_buttons_never_fail_silently(world) -> None:
    """A button from an older bot, a confirmation left too long, another member's button:
    each is answered, privately, with what to do, and nothing is deleted."""
    discord, _, _, data = world
    dana = member()
    reply = recommend(discord, dana, catalog_video(data, 33), 3)
    discord.react(dana, int(reply["message"]["id"]), "1️⃣")
    discord.wait_for(lambda: ratings(data, dana.id) == {1: 1}, 20, "her like")
    taste = outcome(discord, discord.interaction(dana, "taste"))["message"]

    def press(who, message: dict, custom_id: str, label: str = "") -> dict:
        """Click a button; one that is not on ``message`` is put there first (Discord only
        sends clicks on buttons a message has)."""
        buttons = [b for row in message["components"] for b in row["components"]]
        if custom_id not in [b["custom_id"] for b in buttons]:
            button = {"type": 2, "style": 2, "label": label, "custom_id": custom_id}
            message = {**message, "components": [{"type": 1, "components": [button]}]}
        click = discord.click(who, message, custom_id)
        discord.wait_for(lambda: click["responses"], 20, f"an answer to {custom_id}")
        return click["responses"][0]

    old = press(dana, taste, "3f1c0e0c9a4b4f0e8d6f2b1a7c9e5d3b", "Forget my ratings…")
    assert old["type"] == 4 and int(old["data"]["flags"]) & 64  # an older bot's random id
    assert "no longer works" in old["data"]["content"] and "/taste" in old["data"]["content"]
    not_hers = press(member(), taste, f"earshot:forget:{dana.id}:ask")
    assert int(not_hers["data"]["flags"]) & 64 and "not yours" in not_hers["data"]["content"]
    yes = f"earshot:forget:{dana.id}:yes"
    long_ago = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
    stale = press(dana, {**taste, "edited_timestamp": long_ago}, yes, "Yes, forget them")
    assert stale["type"] == 7  # the question again, in place
    assert stale["data"]["content"].startswith("That question expired; here it is again.")
    assert ratings(data, dana.id) == {1: 1}
    now = datetime.now(UTC).isoformat()
    done = press(dana, {**taste, "edited_timestamp": now}, yes, "Yes, forget them")
    assert "Done: 1 rating deleted." in done["data"]["content"] and ratings(data, dana.id) == {}


def test_fourteen_new_songs_at_once_are_all_answered(world) -> None:
    """Busy is decided by the wait a song would have, not by how many are waiting: quick
    songs asked for all at once are all answered (issue 22, item 8)."""
    discord, youtube, _, _ = world
    songs = [f"burst{n:02d}____" for n in range(14)]
    for n, song in enumerate(songs):
        make_song(youtube.root / f"{song}.mp3", 8.0, tone=150.0 + 20 * n)
    records = [
        discord.interaction(member(), "recommend", song=f"https://youtu.be/{song}", count=2)
        for song in songs
    ]
    answers = [outcome(discord, record, reactions=3, timeout=180) for record in records]
    refused = [a["content"] for a in answers if a["kind"] != "public"]
    assert refused == [], refused


def test_links_as_members_paste_them(world) -> None:
    """Punctuation and brackets around a link are not part of it; a refusal starts with a
    capital and names what is accepted briefly; Find similar music finds links in `code`
    and a message that is just an id (issue 22, item 10)."""
    discord, _, _, data = world
    video = catalog_video(data, 50)
    for pasted in (f"https://youtu.be/{video}.", f"(https://youtu.be/{video})", f"`{video}`"):
        answer = recommend(discord, member(), pasted, 2)
        assert answer["kind"] == "public", (pasted, answer["content"])
        assert f"watch?v={video}" in answer["message"]["embeds"][0]["url"]
    refused = recommend(discord, member(), "https://www.youtube.com/playlist?list=PLx0sYbCqOb8")
    said = refused["content"]
    assert said.startswith("That is a playlist without a video") and len(said) < 220, said
    for text in (f"try `https://youtu.be/{video}`", video, f"the id is `{video}` I think"):
        posted = discord.post(member(), text)
        found = outcome(discord, discord.message_command(member(), "Find similar music", posted), 6)
        assert found["kind"] == "public", (text, found["content"])
        assert f"watch?v={video}" in found["message"]["embeds"][0]["url"]


def test_a_linked_moment_picks_the_catalog_clip_or_is_listened_to(world) -> None:
    """&t= inside a catalog clip: that clip. Outside every clip: earshot listens there."""
    discord, youtube, _, data = world
    with sqlite3.connect(data / "earshot.sqlite3") as db:
        video, start = db.execute(
            "SELECT video_id, start_s FROM tracks WHERE source != 'member' AND start_s >= 60"
            " ORDER BY id LIMIT 1"
        ).fetchone()
    inside = recommend(discord, member(), f"https://youtu.be/{video}?t={int(start) + 3}", 2)
    assert inside["message"]["embeds"][0]["url"].endswith(f"&t={int(start)}s")
    make_song(youtube.root / f"{video}.mp3", 20.0, tone=260.0)
    outside = recommend(discord, member(), f"https://youtu.be/{video}?t=5", 2)
    assert outside["kind"] == "public", outside["content"]
    assert outside["message"]["embeds"][0]["url"].endswith("&t=5s")


def test_the_catch_up_counts_each_member_once(world) -> None:
    """A member who reacted on two replies while the bot was away is one member whose
    ratings changed, not two."""
    discord, _, bot, data = world
    fran = member()
    replies = [recommend(discord, fran, catalog_video(data, n), 2) for n in (60, 61)]
    before = bot.log_text().count("caught up with reactions on")
    bot.stop()
    for reply in replies:
        discord.react(fran, int(reply["message"]["id"]), "1️⃣")
    bot.start()
    discord.wait_for(
        lambda: bot.log_text().count("caught up with reactions on") > before, 60, "the catch-up"
    )
    line = bot.log_text().split("caught up with reactions on")[-1].splitlines()[0]
    assert "the ratings of 1 member changed while earshot was away" in line, line
    with sqlite3.connect(data / "earshot.sqlite3") as db:
        (likes,) = db.execute(
            "SELECT COUNT(*) FROM ratings WHERE user_id = ? AND value = 1", (fran.id,)
        ).fetchone()
    assert likes == 2  # both read back


def test_the_count_asked_for_comes_when_many_videos_are_gone(world, oembed: OEmbedServer) -> None:
    """Half the catalog's videos are gone (about a quarter are, on YouTube today): the
    reply still has the count asked for, and none of them is gone."""
    discord, _, _, data = world
    with sqlite3.connect(data / "earshot.sqlite3", timeout=30) as db:
        videos = [v for (v,) in db.execute("SELECT video_id FROM tracks ORDER BY id")]
        db.execute("UPDATE video_facts SET checked_at = 0")  # earlier tests' facts: stale
    asked = [catalog_video(data, n) for n in (40, 41, 42)]
    gone = {v: 404 for i, v in enumerate(videos) if i % 2 == 1 and v not in asked}
    oembed.status_for.update(gone)
    try:
        for song, count in zip(asked, (10, 19, 20), strict=True):
            record = discord.interaction(member(), "recommend", song=song, count=count)
            answer = outcome(discord, record, reactions=11, timeout=120)
            shown = _suggested(answer["messages"])
            assert len(shown) == count and not set(shown) & set(gone), (count, shown)
            assert "Only" not in answer["messages"][0]["embeds"][0]["description"]
    finally:
        for video in gone:
            oembed.status_for.pop(video, None)


@pytest.mark.parametrize("named_by", ["OWNER_GUILD_ID", "the application"])
def test_owner_commands_live_in_the_home_server_for_every_owner(
    built_catalog: Path, tmp_path: Path, named_by: str
) -> None:
    """A BOT_ADMINS owner who is not a server administrator sees /reindex and /stats in
    the home server and can run them; members of other servers never see them."""
    data = tmp_path / "data"
    shutil.copytree(built_catalog, data)
    helper = Member(4321, "helper")  # an owner by BOT_ADMINS, with no server permissions
    with FakeDiscord(guilds=2) as discord:
        home, elsewhere = discord.guild_ids
        env = {"BOT_ADMINS": str(helper.id), "SYNC_COMMANDS": "global"}
        if named_by == "OWNER_GUILD_ID":
            env["OWNER_GUILD_ID"] = str(home)
        else:
            discord.app_guild_id = home
        bot = BotProcess(discord, data, tmp_path / "bot.log", **env)
        bot.start()
        try:
            everyone = {"recommend", "discover", "taste", "Find similar music"}
            owners = {"reindex", "stats", "catalog"}
            assert discord.visible_commands(helper, home) == everyone | owners
            assert discord.visible_commands(helper, elsewhere) == everyone
            admin_elsewhere = member(administrator=True)
            assert discord.visible_commands(admin_elsewhere, elsewhere) == everyone
            stats = outcome(discord, discord.interaction(helper, "stats", guild_id=home))
            assert stats["ephemeral"] and stats["message"]["embeds"], stats
            passer_by = outcome(discord, discord.interaction(member(), "stats", guild_id=home))
            assert "Only the bot's owners" in passer_by["content"]
            assert "/reindex, /stats and /catalog live in server" in bot.log_text()
        finally:
            bot.stop()


def test_a_shorter_reply_says_why_in_one_line(world, oembed: OEmbedServer) -> None:
    """When nearly every video is gone, the reply has the few that play, and one line
    saying why it is shorter than asked."""
    discord, _, _, data = world
    with sqlite3.connect(data / "earshot.sqlite3", timeout=30) as db:
        videos = [v for (v,) in db.execute("SELECT DISTINCT video_id FROM tracks ORDER BY id")]
        # What earlier tests learned of these videos is made stale: checked again now.
        db.execute("UPDATE video_facts SET checked_at = 0")
    asked = catalog_video(data, 70)
    alive = set(videos[1:4]) | {asked}
    gone = {v: 404 for v in videos if v not in alive}
    oembed.status_for.update(gone)
    try:
        record = discord.interaction(member(), "recommend", song=asked, count=5)
        answer = outcome(discord, record, timeout=120)
        assert answer["kind"] == "public", answer["content"]
        description = answer["messages"][0]["embeds"][0]["description"]
        shown = _suggested(answer["messages"])
        assert len(shown) < 5 and set(shown) <= alive, shown
        (why,) = [line for line in description.splitlines() if line.startswith("*Only")]
        assert why.startswith(f"*Only {len(shown)} this time: "), why
    finally:
        for video in gone:
            oembed.status_for.pop(video, None)


def test_deezer_and_spotify_links_and_words_are_answered_and_say_what_was_heard(
    built_catalog: Path,
    fake_vggish: Path,
    pca_params: Path,
    tmp_path: Path,
    youtube_search: YouTubeSearch,
) -> None:
    """A member pastes a Deezer link: the reply names the song and that earshot heard its
    30-second preview (issue 23); a song named in words says what YouTube search found it,
    with a hint for when it is the wrong one; a list instead of a song, and words that
    match nothing, are refused privately, in one sentence."""
    data = tmp_path / "data"
    shutil.copytree(built_catalog, data)
    make_song(tmp_path / "one-more-time.mp3", 30.0, tone=220.0)
    with FakeDiscord() as discord, MusicApis(tmp_path) as apis:
        apis.add_deezer("3135556", "One More Time", "Daft Punk", 320, "one-more-time.mp3")
        apis.add_spotify(
            "0DiWol3AO6WpXZgp0goxAV", "One More Time", ["Daft Punk", "Romanthony"], 320,
            "one-more-time.mp3",
        )  # fmt: skip
        bot = BotProcess(
            discord,
            data,
            tmp_path / "bot.log",
            VGGISH_MODEL=str(fake_vggish),
            VGGISH_PCA_PARAMS=str(pca_params),
            EARSHOT_TEST_ALLOW_LOOPBACK="1",
            EARSHOT_TEST_MUSIC_BASE=apis.base,
        )
        bot.start()
        try:
            link = "https://www.deezer.com/fr/track/3135556?utm_source=deezer"
            answer = recommend(discord, member(), link, 3)
            assert answer["kind"] == "public", answer["content"]
            embed = answer["message"]["embeds"][0]
            assert embed["title"] == "Sounds like: One More Time"
            assert embed["url"] == "https://www.deezer.com/track/3135556"
            lines = embed["description"].splitlines()
            assert lines[0].startswith("by Daft Punk")
            assert re.fullmatch(r"Heard: Deezer preview, (29|30|31) s", lines[1]), lines[1]
            assert len(_suggested(answer["messages"])) == 3
            # Find similar music on that reply: the same song, from the same preview.
            again = outcome(
                discord,
                discord.message_command(member(), "Find similar music", answer["message"]),
                reactions=6,
            )
            assert again["kind"] == "public", again["content"]
            assert again["message"]["embeds"][0]["url"] == "https://www.deezer.com/track/3135556"
            assert apis.requests.count("/previews/one-more-time.mp3") == 1  # cached
            # ...and on a member's message that shares the Deezer link in a sentence.
            shared = discord.post(member(), f"this one! {link}, so good")
            from_chat = outcome(
                discord, discord.message_command(member(), "Find similar music", shared), 6
            )
            assert from_chat["kind"] == "public", from_chat["content"]
            assert (
                from_chat["message"]["embeds"][0]["url"] == "https://www.deezer.com/track/3135556"
            )
            spotify = "https://open.spotify.com/track/0DiWol3AO6WpXZgp0goxAV?si=x"
            heard = recommend(discord, member(), spotify, 2)
            assert heard["kind"] == "public", heard["content"]
            lines = heard["message"]["embeds"][0]["description"].splitlines()
            assert lines[0].startswith("by Daft Punk, Romanthony")
            assert lines[1].startswith("Heard: Spotify preview, ")
            video = catalog_video(data, 4)
            youtube_search.add(
                "daft punk around the world",
                songs=[Result(video, "Around the World", "Daft Punk", 429, "Homework")],
            )
            named = recommend(discord, member(), "daft punk around the world", 2)
            assert named["kind"] == "public", named["content"]
            embed = named["message"]["embeds"][0]
            assert embed["title"] == "Sounds like: Around the World"
            assert embed["url"].startswith(f"https://www.youtube.com/watch?v={video}&t=")
            lines = embed["description"].splitlines()
            assert lines[0].startswith("by Daft Punk")
            assert lines[1:3] == [
                "Heard: YouTube search for 'daft punk around the world'",
                "*Not the song you meant? Paste its link instead.*",
            ]
            assert len(_suggested(named["messages"])) == 2
            nothing = recommend(discord, member(), "qqzx no such song", 2)
            assert nothing["kind"] == "private" and nothing["ephemeral"], nothing
            assert nothing["content"].startswith("YouTube has no song that matches 'qqzx no")
            a_set = "https://soundcloud.com/forss/sets/soulhack"
            refused = recommend(discord, member(), a_set, 3)
            assert refused["kind"] == "immediate" and refused["ephemeral"]  # before thinking
            assert refused["content"].startswith("That SoundCloud page is a list, not one song")
        finally:
            bot.stop()
