"""The real bot process and the real discord.py client, against a local Discord API.

Members are played by the fake API: it sends INTERACTION_CREATE and reaction events over
the gateway and records every REST call the bot makes.
"""

from __future__ import annotations

import copy
import itertools
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recommender.results import PLAY_ALL_URL
from scripts.standins.bot_process import TOKEN, BotProcess
from scripts.standins.cli import ROOT
from scripts.standins.discord_api import FakeDiscord, Member
from scripts.standins.http_range import RangeServer
from scripts.standins.media import make_song
from scripts.standins.oembed import channel_of, title_of

NUMBERS = ["1️⃣", "2️⃣", "3️⃣", "4️⃣", "5️⃣", "6️⃣", "7️⃣", "8️⃣", "9️⃣", "🔟"]
NEW_SONG = "newsong0001"
SILENT_SONG = "silentsong1"
OWNER = Member(1000, "owner")
_members = itertools.count(5000)


def member(administrator: bool = False) -> Member:
    n = next(_members)
    return Member(n, f"member{n}", administrator)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bot-media")
    make_song(root / f"{NEW_SONG}.mp3", 20.0, tone=196.0)
    make_song(root / "othersong01.ogg", 15.0, tone=330.0)
    make_song(root / f"{SILENT_SONG}.mp3", 20.0, silent=True)
    return root


@pytest.fixture(scope="module")
def world(
    built_catalog: Path,
    media: Path,
    fake_vggish: Path,
    pca_params: Path,
    tmp_path_factory: pytest.TempPathFactory,
):
    """A fake Discord, a YouTube stand-in, and the bot serving a copy of the catalog."""
    data = tmp_path_factory.mktemp("bot") / "data"
    shutil.copytree(built_catalog, data)
    with FakeDiscord(owner_id=OWNER.id) as discord, RangeServer(media) as youtube:
        bot = BotProcess(
            discord,
            data,
            data.parent / "bot.log",
            **listening_env(youtube, fake_vggish, pca_params),
            BOT_ADMINS="1234",
        )
        bot.start()
        try:
            yield discord, youtube, bot, data
        finally:
            bot.stop()


def listening_env(youtube: RangeServer, model: Path, pca: Path) -> dict[str, str]:
    """A bot that listens with the stand-in VGGish to songs from the YouTube stand-in."""
    return {
        "VGGISH_MODEL": str(model),
        "VGGISH_PCA_PARAMS": str(pca),
        "EARSHOT_TEST_ALLOW_LOOPBACK": "1",
        "EARSHOT_TEST_MEDIA_BASE": youtube.url(""),
        "SECTION_SECONDS": "5",
    }


def run_to_exit(env: dict[str, str]) -> subprocess.CompletedProcess:
    """``python -m bot`` run to its end (for starts that must fail), output captured."""
    return subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def catalog_video(data: Path, offset: int = 0) -> str:
    with sqlite3.connect(data / "earshot.sqlite3") as db:
        return db.execute(
            "SELECT video_id FROM tracks WHERE source = 'bal_train' AND labels != ''"
            " ORDER BY id LIMIT 1 OFFSET ?",
            (offset,),
        ).fetchone()[0]


def ratings(data: Path, user: int) -> dict[int, int]:
    with sqlite3.connect(data / "earshot.sqlite3") as db:
        return dict(
            db.execute("SELECT position, value FROM ratings WHERE user_id = ?", (user,)).fetchall()
        )


NOTE = "Here they come…"  # the private note while the public answer is posted


def outcome(discord: FakeDiscord, record: dict, reactions: int = 0, timeout: float = 90) -> dict:
    """Wait for the bot to finish answering an interaction; describe the answer: "public"
    (its messages posted for the channel, with ``reactions`` on the first), "private" (the
    private "thinking…" turned into a message only the member sees) or "immediate" (an
    answer without thinking first)."""

    def finished():
        if not record["responses"]:
            return None
        first = record["responses"][0]
        original = discord.messages.get(record.get("original"))
        if first["type"] == 4:
            return {
                "kind": "immediate",
                "ephemeral": bool(original["flags"] & 64),
                "content": original["content"],
                "message": original,
            }
        posted = [discord.messages[m] for m in record.get("followups", [])]
        public = [m for m in posted if not m["flags"] & 64]
        if public:
            if not original.get("deleted") or len(public[0].get("bot_reactions", [])) < reactions:
                return None
            return {
                "kind": "public",
                "ephemeral": False,
                "content": public[0]["content"],
                "message": public[0],
                "messages": public,
            }
        if posted:  # a private follow-up
            return {
                "kind": "private",
                "ephemeral": True,
                "content": posted[-1]["content"],
                "message": posted[-1],
            }
        said = original and (original["content"] not in ("", NOTE) or original.get("embeds"))
        if said and not original["flags"] & 128:
            return {
                "kind": "private" if original["flags"] & 64 else "edited",
                "ephemeral": bool(original["flags"] & 64),
                "content": original["content"],
                "message": original,
            }
        return None

    return discord.wait_for(finished, timeout, f"an answer to /{record['data']['name']}")


def recommend(discord: FakeDiscord, who: Member, url: str, count: int = 5) -> dict:
    record = discord.interaction(who, "recommend", song=url, count=count)
    return outcome(discord, record, reactions=min(count, 10) + 1)


def test_logs_in_and_syncs_the_commands(world) -> None:
    discord, _, _, _ = world
    names = {c["name"]: c for c in discord.commands}
    everyone = {"recommend", "discover", "taste", "Find similar music"}
    assert set(names) == everyone | {"reindex", "stats", "catalog"}
    options = {o["name"]: o for o in names["recommend"]["options"]}
    assert options["count"]["type"] == 4 and options["count"]["min_value"] == 1
    assert options["count"]["max_value"] == 20 and not options["count"].get("required")
    # A song, or a file instead (Discord cannot require one of two options, so neither
    # is required, and asking with neither is refused in a sentence).
    assert options["song"]["type"] == 3 and not options["song"].get("required")
    assert options["file"]["type"] == 11 and options["share"]["type"] == 5
    assert "url" not in options  # renamed: it takes more than links
    assert str(names["reindex"]["default_member_permissions"]) == "8"  # hidden from members
    assert str(names["catalog"]["default_member_permissions"]) == "8"
    (add,) = names["catalog"]["options"]
    assert add["name"] == "add" and add["type"] == 1
    assert [o["name"] for o in add["options"]] == ["source", "playlist", "album"]
    calls = [(c.method, c.path) for c in discord.calls]
    assert ("GET", "/users/@me") in calls and ("GET", "/oauth2/applications/@me") in calls


def test_recommend_a_catalog_clip(world) -> None:
    discord, _, _, data = world
    video = catalog_video(data, 3)
    record = discord.interaction(member(), "recommend", song=f"https://youtu.be/{video}", count=4)
    answer = outcome(discord, record, reactions=5)
    assert record["responses"][0]["type"] == 5  # deferred at once
    assert answer["kind"] == "public"
    embed = answer["message"]["embeds"][0]
    assert embed["title"] == f"Sounds like: {title_of(video)}"
    assert embed["url"].startswith(f"https://www.youtube.com/watch?v={video}")
    lines = [line for line in embed["description"].splitlines() if line.startswith("**")]
    assert [line[:5] for line in lines] == ["**1.*", "**2.*", "**3.*", "**4.*"]
    suggested = re.findall(r"\(https://www\.youtube\.com/watch\?v=([\w-]{11})", "\n".join(lines))
    assert len(suggested) == 4
    for line, shown in zip(lines, suggested, strict=True):  # a title and a channel on each
        assert f"[{title_of(shown)}](https://www.youtube.com/watch?v={shown}" in line
        assert f" — {channel_of(shown)}" in line
    assert "%" not in embed["description"]  # no number that does not fall with the rank
    play_all = f"[▶ Play all 4 as one YouTube queue]({PLAY_ALL_URL}{','.join(suggested)})"
    assert play_all in embed["description"]
    assert video not in embed["description"].split("tags:")[-1].split("**1.**")[-1]
    assert "React 1️⃣" in embed["footer"]["text"]
    assert answer["message"]["bot_reactions"] == [*NUMBERS[:4], "👎"]


def test_recommend_a_new_video_then_from_the_cache(world) -> None:
    discord, youtube, _, data = world
    first = recommend(discord, member(), f"https://www.youtube.com/watch?v={NEW_SONG}", 3)
    assert first["kind"] == "public"
    assert any(path == f"/{NEW_SONG}" for path, _ in youtube.requests)
    before = len(youtube.requests)
    again = recommend(discord, member(), f"https://youtu.be/{NEW_SONG}", 3)
    assert again["kind"] == "public" and len(youtube.requests) == before
    assert (
        again["message"]["embeds"][0]["description"] == first["message"]["embeds"][0]["description"]
    )
    silent = recommend(discord, member(), f"https://youtu.be/{SILENT_SONG}", 3)
    assert silent["ephemeral"] and "That song is silent where earshot listened" in silent["content"]
    # TensorFlow's native start-up noise stays out of the bot's log; Python's does not.
    log = (data.parent / "bot.log").read_text()
    assert "cuInit" not in log and "I0000" not in log and "oneDNN" not in log


def test_reactions_become_ratings_and_survive_a_restart(world) -> None:
    discord, _, bot, data = world
    alice = member()
    answer = recommend(discord, member(), catalog_video(data, 5), 5)
    message = int(answer["message"]["id"])
    discord.react(alice, message, "2️⃣")
    discord.wait_for(lambda: ratings(data, alice.id) == {2: 1}, 20, "a like")
    discord.react(alice, message, "👎")
    discord.wait_for(
        lambda: ratings(data, alice.id) == {1: -1, 2: 1, 3: -1, 4: -1, 5: -1},
        20,
        "the rest disliked",
    )
    discord.react(alice, message, "2️⃣", add=False)
    discord.wait_for(
        lambda: ratings(data, alice.id) == {p: -1 for p in range(1, 6)}, 20, "the like removed"
    )
    discord.react(alice, message, "👎", add=False)
    discord.wait_for(lambda: ratings(data, alice.id) == {}, 20, "the dislike removed")
    # Other emoji, the bot's own reactions and other messages change nothing.
    discord.react(alice, message, "🎉")
    discord.react(Member(discord.bot_id, "earshot"), message, "3️⃣")
    discord.react(alice, 12345, "1️⃣")
    # Events are handled in order: once a later like is in, the ones above were handled.
    discord.react(alice, message, "5️⃣")
    discord.wait_for(lambda: ratings(data, alice.id) == {5: 1}, 20, "the marker like")
    assert ratings(data, discord.bot_id) == {}
    discord.react(alice, message, "5️⃣", add=False)
    discord.wait_for(lambda: ratings(data, alice.id) == {}, 20, "the marker removed")

    carl = member()
    discord.react(carl, message, "1️⃣")
    discord.wait_for(lambda: ratings(data, carl.id) == {1: 1}, 20, "carl's like")

    bot.stop()
    # While earshot is away, Discord keeps what members do; no event reaches the bot.
    discord.react(alice, message, "2️⃣")
    discord.react(carl, message, "1️⃣", add=False)
    discord.react(carl, message, "👎")
    reads = discord.rest_reads
    bot.start()
    discord.wait_for(
        lambda: (
            ratings(data, alice.id) == {2: 1}
            and ratings(data, carl.id) == {p: -1 for p in range(1, 6)}
        ),
        30,
        "the reactions made while offline, read back at start-up",
    )
    assert discord.rest_reads > reads  # read through the REST API
    discord.react(alice, message, "4️⃣")  # and live events go on as before, counted once
    discord.wait_for(lambda: ratings(data, alice.id) == {2: 1, 4: 1}, 20, "a like after a restart")


def test_errors_are_ephemeral_and_human(world) -> None:
    discord, _, _, _ = world
    record = discord.interaction(
        member(), "recommend", song="https://evil.example/watch?v=abcdefghijk"
    )
    bad = outcome(discord, record)
    assert bad["ephemeral"] and "is not a music service earshot knows" in bad["content"]
    assert "Accepted:" in bad["content"]
    # Private from the first response: no public "is thinking…" ever shows for bad input.
    assert [r["type"] for r in record["responses"]] == [4]
    twelve = outcome(discord, discord.interaction(member(), "recommend", song="A-7dmBdsFXcX"))
    assert (
        "'A-7dmBdsFXcX' has 12 characters, and YouTube video ids have exactly 11"
        in (twelve["content"])
    )
    long_input = "https://" + "x" * 480 + ".example/"
    echoed = outcome(discord, discord.interaction(member(), "recommend", song=long_input))
    assert echoed["ephemeral"] and "x" * 100 not in echoed["content"] and "…" in echoed["content"]
    gone = recommend(discord, member(), "https://youtu.be/notthere000")
    assert gone["ephemeral"] and "unavailable" in gone["content"]
    for answer in (bad, gone):
        assert "Traceback" not in answer["content"]


def test_reindex_is_for_owners_and_recommend_keeps_answering(world) -> None:
    discord, _, _, data = world
    for outsider in (member(administrator=True), member()):
        refused = outcome(discord, discord.interaction(outsider, "reindex"))
        assert refused["ephemeral"] and "Only the bot's owners" in refused["content"]
    started = discord.interaction(OWNER, "reindex")
    assert "Rebuilding the index" in outcome(discord, started)["content"]
    second = outcome(discord, discord.interaction(Member(1234, "admin"), "reindex"))
    assert "already running" in second["content"]
    answers = [recommend(discord, member(), catalog_video(data, i), 3) for i in range(3)]
    assert all(a["kind"] == "public" for a in answers)
    final = discord.wait_for(
        lambda: (
            "Index rebuilt" in discord.messages[started["original"]]["content"]
            and discord.messages[started["original"]]["content"]
        ),
        180,
        "the rebuild to finish",
    )
    assert "now serving" in final
    after = recommend(discord, member(), catalog_video(data, 9), 3)
    assert after["kind"] == "public"


def _rows(data: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(data / "earshot.sqlite3") as db:
        return db.execute(sql).fetchall()


def test_owners_add_a_folder_of_songs_with_progress_and_a_summary(world, tmp_path: Path) -> None:
    discord, _, _, data = world
    music = tmp_path / "music"
    music.mkdir()
    make_song(music / "one.flac", 12.0, tone=233.0, tags={"artist": "Owl City", "title": "Owls"})
    make_song(music / "two.ogg", 12.0, tone=277.0, tags={"artist": "Low", "title": "Lullaby"})
    (music / "three.mp3").write_text("not audio at all")
    refused = outcome(discord, discord.interaction(member(), "catalog add", source=str(music)))
    assert refused["ephemeral"] and "Only the bot's owners" in refused["content"]
    site = discord.interaction(OWNER, "catalog add", source="https://soundcloud.com/a/sets/b")
    assert (
        "cannot list the songs of that link; give a Deezer playlist"
        in outcome(discord, site)["content"]
    )
    started = discord.interaction(OWNER, "catalog add", source=str(music))
    assert "Adding songs in the background" in outcome(discord, started)["content"]
    again = outcome(discord, discord.interaction(OWNER, "catalog add", source=str(music)))
    assert "Songs are being added already" in again["content"]
    final = discord.wait_for(
        lambda: (
            "Run /reindex" in discord.messages[started["original"]]["content"]
            and discord.messages[started["original"]]["content"]
        ),
        300,  # a hang guard: two songs take seconds
        "the songs to be added",
    )
    assert final.startswith("3 songs found: 2 added, 0 already there, 1 refused.")
    assert "not audio ffmpeg can read (three.mp3)" in final
    assert "link to a YouTube Music search" in final
    titles = _rows(data, "SELECT artist, title FROM songs ORDER BY title")
    assert titles == [("Low", "Lullaby"), ("Owl City", "Owls")]


def _counts(data: Path) -> tuple[int, int, int, int]:
    with sqlite3.connect(data / "earshot.sqlite3") as db:
        return tuple(  # type: ignore[return-value]
            db.execute(sql).fetchone()[0]
            for sql in (
                "SELECT COUNT(*) FROM tracks",
                "SELECT COUNT(*) FROM tracks WHERE source = 'member'",
                "SELECT COUNT(*) FROM embeddings",
                "SELECT COUNT(*) FROM ratings",
            )
        )


def test_stats_for_owners(world) -> None:
    discord, _, _, data = world
    answer = outcome(discord, discord.interaction(OWNER, "stats"))
    fields = {f["name"]: f["value"] for f in answer["message"]["embeds"][0]["fields"]}
    tracks, members, cached, rated = _counts(data)
    songs = _rows(data, "SELECT COUNT(*) FROM songs")[0][0]  # /catalog add may have run
    assert answer["ephemeral"]
    clips = f"{tracks - members - songs:,} AudioSet clips, {members:,} members' songs"
    assert fields["Catalog"].endswith(clips)
    assert fields["Cached songs"] == f"{cached:,}" and fields["Ratings"] == f"{rated:,}"
    indexed = int(fields["Index"].split(" items")[0].replace(",", ""))
    assert 0 < indexed <= tracks and "built" in fields["Index"]
    refused = outcome(discord, discord.interaction(member(), "stats"))
    assert "Only the bot's owners" in refused["content"]


def test_resumes_after_a_gateway_disconnect(world) -> None:
    discord, _, _, data = world
    session = discord.session_id
    discord.reconnect()
    resume = discord.wait_for(lambda: discord.resumes and discord.resumes[-1], 60, "a RESUME")
    assert resume["session_id"] == session and resume["seq"] >= 1
    discord.wait_for(discord.connected, 30, "the gateway connection")
    time.sleep(0.5)
    answer = recommend(discord, member(), catalog_video(data, 11), 2)
    assert answer["kind"] == "public"


def test_cooldown_says_how_long_to_wait(
    built_catalog: Path, tmp_path: Path, fake_vggish: Path, pca_params: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(built_catalog, data)
    with FakeDiscord() as discord:
        bot = BotProcess(
            discord,
            data,
            tmp_path / "bot.log",
            RECOMMEND_COOLDOWN_SECONDS="60",
            VGGISH_MODEL=str(fake_vggish),
            VGGISH_PCA_PARAMS=str(pca_params),
        )
        bot.start()
        try:
            bob = member()
            typo = outcome(
                discord, discord.interaction(bob, "recommend", song="https://example.com/a")
            )
            assert typo["kind"] == "immediate" and typo["ephemeral"]
            assert "not a music service earshot knows" in typo["content"]
            # A refused typo costs nothing: the right link right after is answered.
            assert recommend(discord, bob, catalog_video(data, 1), 2)["kind"] == "public"
            again = outcome(
                discord, discord.interaction(bob, "recommend", song=catalog_video(data, 2))
            )
            assert again["ephemeral"] and "ask again in" in again["content"]
            assert "seconds" in again["content"]
            # One wait for both ways of asking: the menu is refused too.
            post = discord.post(member(), f"https://youtu.be/{catalog_video(data, 3)}")
            menu = outcome(discord, discord.message_command(bob, "Find similar music", post))
            assert menu["ephemeral"] and "ask again in" in menu["content"]
        finally:
            bot.stop()


def test_a_song_that_reaches_the_time_limit_costs_the_wait(
    built_catalog: Path, media: Path, tmp_path: Path, fake_vggish: Path, pca_params: Path
) -> None:
    """It held a listener all that time: asking again at once is refused, as after an
    answer (a time-out once cost nothing, so one member could hold the listeners forever)."""
    data = tmp_path / "data"
    shutil.copytree(built_catalog, data)
    with FakeDiscord() as discord, RangeServer(media) as youtube:
        youtube.stall_s = 8.0  # every answer of the YouTube stand-in stalls past the limit
        bot = BotProcess(
            discord,
            data,
            tmp_path / "bot.log",
            RECOMMEND_COOLDOWN_SECONDS="60",
            REQUEST_TIMEOUT_SECONDS="3",
            **listening_env(youtube, fake_vggish, pca_params),
        )
        bot.start()
        try:
            carol = member()
            slow = outcome(discord, discord.interaction(carol, "recommend", song=NEW_SONG))
            assert slow["ephemeral"] and "longer than" in slow["content"], slow
            again = outcome(
                discord, discord.interaction(carol, "recommend", song=catalog_video(data, 2))
            )
            assert again["ephemeral"] and "ask again in" in again["content"], again
        finally:
            assert bot.stop() == 0  # a clean stop, though the YouTube stand-in still stalls


def test_a_bot_in_no_server_logs_its_invite_link(tmp_path: Path, pca_params: Path) -> None:
    with FakeDiscord() as discord:
        discord.in_guild = False
        bot = BotProcess(discord, tmp_path / "data", tmp_path / "bot.log")
        bot.start()
        log = tmp_path / "bot.log"
        try:
            discord.wait_for(lambda: "in no server yet" in log.read_text(), 30, "the invite")
        finally:
            assert bot.stop() == 0
    expected = (
        "https://discord.com/oauth2/authorize?client_id=900000000000000001"
        "&scope=bot+applications.commands&permissions=85056"
    )
    assert f"earshot is in no server yet; invite it with {expected}" in log.read_text()


def test_two_shards_serve_as_one_bot(built_catalog: Path, tmp_path: Path) -> None:
    """AutoShardedBot takes what /gateway/bot recommends: 2 shards, each identified."""
    data = tmp_path / "data"
    shutil.copytree(built_catalog, data)
    with FakeDiscord() as discord:
        discord.shards = 2
        bot = BotProcess(discord, data, tmp_path / "bot.log")
        bot.start()
        try:
            discord.wait_for(lambda: len(discord.identified_shards) == 2, 30, "two shards")
            assert sorted(discord.identified_shards) == [[0, 2], [1, 2]]
            answer = recommend(discord, member(), catalog_video(data, 5), 3)
            assert answer["kind"] == "public"
        finally:
            assert bot.stop() == 0


def test_an_unreachable_discord_is_one_clear_line(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DISCORD_TOKEN": TOKEN,
        "DISCORD_API_BASE": "http://127.0.0.1:9/api/v10",
        "DISCORD_GATEWAY_URL": "ws://127.0.0.1:9/gateway",
        "DATA_DIR": str(tmp_path / "data"),
    }
    done = run_to_exit(env)
    assert done.returncode == 3
    assert "error: cannot reach Discord (http://127.0.0.1:9/api/v10)" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unreachable_database_is_one_clear_line(tmp_path: Path) -> None:
    from scripts.local_servers import free_port

    with FakeDiscord() as discord:
        bot = BotProcess(
            discord,
            tmp_path / "data",
            tmp_path / "unused.log",
            DATABASE_URL=f"postgresql://earshot:s3cret@127.0.0.1:{free_port()}/earshot",
        )
        done = run_to_exit(bot.env)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "error: earshot's database is unreachable right now" in done.stderr
    assert "to fix: DATABASE_URL postgresql+asyncpg://earshot:***@127.0.0.1:" in done.stderr
    assert "s3cret" not in done.stderr and "Traceback" not in done.stderr


def test_missing_index_and_unexpected_errors(tmp_path: Path, pca_params: Path) -> None:
    data = tmp_path / "data"
    with FakeDiscord() as discord:
        bot = BotProcess(
            discord,
            data,
            tmp_path / "bot.log",
            VGGISH_PCA_PARAMS=str(pca_params),
            VGGISH_MODEL=str(tmp_path / "none"),
        )
        ready_s = bot.start()
        try:
            assert ready_s < 30
            answer = recommend(discord, member(), "https://youtu.be/abcdefghijk")
            assert answer["ephemeral"]
            assert answer["content"] == (
                "earshot is still preparing its catalog; try again in a while."
            )
            # Nothing prepares an empty catalog by itself: /reindex says so, and how to fill it.
            empty = outcome(discord, discord.interaction(OWNER, "reindex"))
            assert empty["ephemeral"] and "still preparing" not in empty["content"]
            assert empty["content"].startswith("The catalog is empty, so there is nothing")
            assert "python -m recommender prepare" in empty["content"]
            with sqlite3.connect(data / "earshot.sqlite3") as db:  # a real fault: table gone
                db.execute("DROP TABLE tracks")
            broken = outcome(discord, discord.interaction(OWNER, "stats"))
            assert "error id" in broken["content"] and broken["ephemeral"]
            error_id = broken["content"].split("`")[1]
        finally:
            assert bot.stop() == 0
        log = (tmp_path / "bot.log").read_text()
        assert f"error {error_id}" in log and "Traceback" in log  # the owners can find it
        assert "the catalog is empty" in log
        assert "python -m recommender prepare" in log  # the operator gets the command
        assert "OTAwMDAwMDAwMDAwMDAwMDAx" not in log  # the token never reaches the log


def test_stats_reports_loop_lag_and_memory(world) -> None:
    discord, _, _, _ = world
    answer = outcome(discord, discord.interaction(OWNER, "stats", minutes=2))
    health = {f["name"]: f["value"] for f in answer["message"]["embeds"][0]["fields"]}["Health"]
    figures = re.fullmatch(
        r"loop lag p50 ([\d.]+) ms, p99 ([\d.]+) ms, max ([\d.]+) ms; memory (\d+) MB", health
    )
    assert figures, health
    p50, p99, worst, memory = (float(x) for x in figures.groups())
    assert 0 <= p50 <= p99 <= worst < 5000  # a responsive loop, in milliseconds
    assert 30 < memory < 1500  # the bot's own process, without TensorFlow


def test_ratings_personalise_and_taste_can_be_reset(world) -> None:
    discord, _, bot, data = world
    carol = member()
    video = catalog_video(data, 20)
    first = recommend(discord, carol, video, 5)
    message = int(first["message"]["id"])
    first_links = [
        line.split("](")[1].split(")")[0]
        for line in first["message"]["embeds"][0]["description"].splitlines()
        if line.startswith("**")  # the suggestions, not the play-all link
    ]
    discord.react(carol, message, "1️⃣")
    discord.react(carol, message, "👎")
    discord.wait_for(lambda: len(ratings(data, carol.id)) == 5, 20, "carol's ratings")
    again = recommend(discord, carol, video, 5)
    text = again["message"]["embeds"][0]["description"]
    for disliked in first_links[1:]:
        assert disliked not in text  # what carol disliked never comes back to her
    assert (
        first_links[1]
        in recommend(discord, member(), video, 5)["message"]["embeds"][0]["description"]
    )  # ...but others still see it

    taste = outcome(discord, discord.interaction(carol, "taste"))
    embed = taste["message"]["embeds"][0]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert taste["ephemeral"] and fields["Ratings"] == "1 liked, 4 missed"
    leans = [line for line in fields["You lean toward"].splitlines() if line.startswith("• ")]
    skips = fields.get("You skip", "").splitlines()
    assert all(line.startswith("• ") for line in skips) and skips  # she skipped 4
    assert leans or fields["You lean toward"] == "nothing clear yet"
    assert not set(leans) & set(skips)  # a label is on one side at most
    button = taste["message"]["components"][0]["components"][0]
    assert button["label"] == "Forget my ratings…"
    untouched = copy.deepcopy(taste["message"])  # as if she had run /taste twice
    click = discord.click(carol, taste["message"], button["custom_id"])
    discord.wait_for(lambda: click["responses"], 20, "the button's answer")
    asked = click["responses"][0]["data"]
    assert "Delete all 5 of your ratings?" in asked["content"]
    assert ratings(data, carol.id) != {}  # one click deletes nothing
    choices = {b["label"]: b["custom_id"] for b in asked["components"][0]["components"]}
    assert set(choices) == {"Yes, forget them", "Keep them"}
    confirm_on = {**taste["message"], "components": asked["components"]}
    yes = discord.click(carol, confirm_on, choices["Yes, forget them"])
    discord.wait_for(lambda: yes["responses"], 20, "the confirmation's answer")
    done = yes["responses"][0]["data"]["content"]
    assert "5 ratings deleted" in done and "will not count them again" in done
    assert ratings(data, carol.id) == {}

    # Her reactions stay on the reply in Discord; a restart's catch-up reads them back, and
    # they must not become ratings again. What she does after forgetting counts as usual.
    def restart() -> None:
        before = bot.log_text().count("caught up with reactions on")
        bot.stop()
        bot.start()
        discord.wait_for(
            lambda: bot.log_text().count("caught up with reactions on") > before,
            60,
            "the start-up catch-up",
        )

    restart()
    assert ratings(data, carol.id) == {}
    # Her other /taste's button still answers after the restart (issue 22, item 7).
    again = discord.click(carol, untouched, button["custom_id"])
    discord.wait_for(lambda: again["responses"], 20, "the old button's answer")
    assert again["responses"][0]["data"]["content"] == "You have no ratings to forget."
    discord.react(carol, message, "2️⃣")
    discord.wait_for(lambda: ratings(data, carol.id) == {2: 1}, 20, "a like after forgetting")
    restart()
    assert ratings(data, carol.id) == {2: 1}


def test_twenty_suggestions_are_all_ratable(world) -> None:
    """Each message numbers its suggestions from 1, as its reactions do, and its footer
    names only the reactions it has (issue 22, item 3)."""
    discord, _, _, data = world
    erin = member()
    record = discord.interaction(erin, "recommend", song=catalog_video(data, 25), count=19)
    first, second = outcome(discord, record, reactions=11)["messages"]
    discord.wait_for(lambda: len(second.get("bot_reactions", [])) == 10, 30, "page 2's reactions")
    assert first["bot_reactions"] == [*NUMBERS, "👎"]
    assert second["bot_reactions"] == [*NUMBERS[:9], "👎"]
    pages = [m["embeds"][0] for m in (first, second)]
    assert pages[0]["title"].startswith("Sounds like: ") and "(page 1 of 2)" in pages[0]["title"]
    assert pages[1]["title"].startswith("More like: ") and "(page 2 of 2)" in pages[1]["title"]
    numbers = [re.findall(r"^\*\*(\d+)\.\*\*", e["description"], re.M) for e in pages]
    assert numbers == [[str(n) for n in range(1, 11)], [str(n) for n in range(1, 10)]]
    assert pages[0]["footer"]["text"].startswith("React 1️⃣–🔟 to like a suggestion, 👎 if")
    assert pages[1]["footer"]["text"].startswith("React 1️⃣–9️⃣ to like a suggestion, 👎 if")
    one = discord.interaction(member(), "recommend", song=catalog_video(data, 26), count=1)
    alone = outcome(discord, one, reactions=2)["message"]
    assert alone["embeds"][0]["footer"]["text"].startswith("React 1️⃣ if you like it, 👎 if")
    assert alone["bot_reactions"] == ["1️⃣", "👎"] and "page" not in alone["embeds"][0]["title"]
    # 1️⃣ on the second page likes its first suggestion; 👎 on the first dislikes 1 to 10.
    discord.react(erin, int(second["id"]), "1️⃣")
    discord.react(erin, int(first["id"]), "👎")

    def by_message() -> dict[tuple[int, int], int]:
        with sqlite3.connect(data / "earshot.sqlite3") as db:
            rows = db.execute(
                "SELECT message_id, position, value FROM ratings WHERE user_id = ?", (erin.id,)
            ).fetchall()
        return {(m, p): v for m, p, v in rows}

    discord.wait_for(lambda: len(by_message()) == 11, 20, "11 ratings")  # 1 + 10
    rated = by_message()
    assert rated[(int(second["id"]), 1)] == 1
    assert all(rated[(int(first["id"]), p)] == -1 for p in range(1, 11))


def test_find_similar_music_from_a_message(world) -> None:
    discord, _, _, data = world
    dave = member()
    names = {c["name"]: c for c in discord.commands}
    assert names["Find similar music"]["type"] == 3
    video = catalog_video(data, 30)
    post = discord.post(dave, f"listen to this <https://youtu.be/{video}> so good")
    answer = outcome(
        discord, discord.message_command(member(), "Find similar music", post), reactions=6
    )
    assert answer["kind"] == "public"
    assert answer["message"]["embeds"][0]["url"].startswith(
        f"https://www.youtube.com/watch?v={video}"
    )
    plain = discord.post(dave, "no links here")
    refused = outcome(discord, discord.message_command(member(), "Find similar music", plain))
    assert refused["ephemeral"] and refused["content"].startswith(
        "That message names no song earshot can listen to. It takes a message with a link to "
        "one song on YouTube"
    )
    other = catalog_video(data, 31)
    in_embed = [{"type": "rich", "title": "a song", "url": f"https://youtu.be/{other}"}]
    for text, embeds in (
        (f"listen [here](https://youtu.be/{other})", None),
        (f"try https://youtu.be/{other}.", None),
        ("look at this", in_embed),
    ):
        posted = discord.post(dave, text, embeds)
        found = outcome(
            discord, discord.message_command(member(), "Find similar music", posted), reactions=6
        )
        assert found["kind"] == "public", (text, found)
        assert found["message"]["embeds"][0]["url"].startswith(
            f"https://www.youtube.com/watch?v={other}"
        )
    # On earshot's own reply: the song the reply was about, not its first suggestion.
    again = outcome(
        discord,
        discord.message_command(member(), "Find similar music", answer["message"]),
        reactions=6,
    )
    assert again["message"]["embeds"][0]["url"].startswith(
        f"https://www.youtube.com/watch?v={video}"
    )


def test_fifty_requests_at_once_all_get_an_answer(world) -> None:
    discord, _, _, data = world
    records = [
        discord.interaction(member(), "recommend", song=catalog_video(data, 40 + i), count=3)
        for i in range(35)
    ] + [
        discord.interaction(member(), "recommend", song=f"https://youtu.be/absent{i:05d}", count=3)
        for i in range(15)
    ]
    answers = [outcome(discord, record, reactions=4, timeout=240) for record in records]
    served = [a for a in answers if a["kind"] == "public"]
    refused = [a for a in answers if a["ephemeral"]]
    assert len(served) + len(refused) == 50
    assert len(served) >= 35  # every catalog clip is answered
    contents = {a["content"] for a in refused}
    assert all(("unavailable" in c or "try again" in c) for c in contents), contents


def test_two_processes_each_run_half_the_shards(built_catalog: Path, tmp_path: Path) -> None:
    """SHARD_COUNT and SHARD_IDS: two bot processes share one bot and one database, each
    with two of four shards; the one whose shard holds the server answers, and a rating
    given through it counts for both."""
    data = tmp_path / "data"
    shutil.copytree(built_catalog, data)
    with FakeDiscord() as discord:
        discord.shards = 4
        owner_shard = (discord.guild_id >> 22) % 4
        halves = {"0,1": [0, 1], "2-3": [2, 3]}
        bots = [
            BotProcess(discord, data, tmp_path / f"bot{n}.log", SHARD_COUNT="4", SHARD_IDS=ids)
            for n, ids in enumerate(halves)
        ]
        try:
            for bot in bots:
                bot.start()
            discord.wait_for(lambda: len(discord.identified_shards) == 4, 30, "four shards")
            assert sorted(discord.identified_shards) == [[i, 4] for i in range(4)]
            asker = member()
            answer = recommend(discord, asker, catalog_video(data, 6), 3)
            assert answer["kind"] == "public"
            serving = next(n for n, ids in enumerate(halves.values()) if owner_shard in ids)
            log = (tmp_path / f"bot{serving}.log").read_text()
            assert f"Shard ID {owner_shard} has connected" in log  # the server's shard is there
            discord.react(asker, int(answer["message"]["id"]), "1️⃣")
            discord.wait_for(lambda: ratings(data, asker.id) == {1: 1}, 20, "the rating")
            # SIGTERM: each process closes its engine to the end before the loop stops.
            assert [bot.stop() for bot in bots] == [0, 0]
            for n in range(2):
                log = (tmp_path / f"bot{n}.log").read_text()
                assert "Unclosed" not in log and "CancelledError" not in log, log[-3000:]
        finally:
            for bot in bots:
                bot.stop()


def _checkpoint(database: Path) -> None:
    """Empty the WAL into the database and truncate it, so the next write needs new
    space (a WAL keeps its size for reuse, which a full disk would not show)."""
    for _ in range(50):
        with sqlite3.connect(database) as db:
            if db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0:
                return
        time.sleep(0.1)
    raise AssertionError("the bot kept a read open for 5 s")


def test_a_full_disk_serves_what_it_can_and_loses_no_rating(
    built_catalog: Path,
    media: Path,
    fake_vggish: Path,
    pca_params: Path,
    tmp_path: Path,
    small_disk,
) -> None:
    size = sum(p.stat().st_size for p in built_catalog.rglob("*") if p.is_file())
    disk = small_disk(size + 16 * 1024 * 1024)
    data = disk.path / "data"
    shutil.copytree(built_catalog, data)
    with FakeDiscord(owner_id=OWNER.id) as discord, RangeServer(media) as youtube:
        bot = BotProcess(
            discord,
            data,
            tmp_path / "bot.log",
            **listening_env(youtube, fake_vggish, pca_params),
        )
        bot.start()
        try:
            _checkpoint(data / "earshot.sqlite3")
            disk.fill()
            # A catalog song needs no new space to answer: it is answered.
            answer = recommend(discord, member(), catalog_video(data, 3), 5)
            assert answer["kind"] == "public"
            alice = member()
            discord.react(alice, int(answer["message"]["id"]), "2️⃣")
            # A new song needs room to be listened to: the member is told why, privately.
            new = recommend(discord, member(), f"https://youtu.be/{NEW_SONG}", 3)
            assert new["ephemeral"] and "run out of disk space" in new["content"]
            assert "Songs it already knows still work" in new["content"]
            assert "could not decode" not in new["content"]
            time.sleep(1.0)
            assert ratings(data, alice.id) == {}  # waiting in memory, in order
            log = (tmp_path / "bot.log").read_text()
            assert f"the disk holding {data}" in log and "is full: free some space" in log
            assert "Traceback" not in log
            disk.free()
            discord.wait_for(
                lambda: ratings(data, alice.id) == {2: 1}, 30, "the like written once there is room"
            )
            again = recommend(discord, member(), f"https://youtu.be/{NEW_SONG}", 3)
            assert again["kind"] == "public"
        finally:
            bot.stop()
    with sqlite3.connect(data / "earshot.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_second_bot_for_the_same_shards_is_refused_or_explained(
    built_catalog: Path, tmp_path: Path
) -> None:
    """Run twice by mistake: on one DATA_DIR the second process is refused at start-up in
    one line; from another folder (the same token), Discord sends both every request and
    refuses the second answer, and the loser says why in its log instead of an error."""
    data = tmp_path / "data"
    shutil.copytree(built_catalog, data)
    with FakeDiscord(owner_id=OWNER.id) as discord:
        first = BotProcess(discord, data, tmp_path / "first.log")
        first.start()
        try:

            def start_another(**env: str) -> subprocess.CompletedProcess:
                another = BotProcess(discord, data, tmp_path / "unused.log", **env)
                return run_to_exit(another.env)

            again = start_another()
            assert again.returncode == 1, again.stderr[-2000:]
            assert first.process is not None
            holder = f"(pid {first.process.pid} on {socket.gethostname()})"
            assert (
                f"another earshot bot process {holder} already serves its shards from {data}"
                in (again.stderr)
            )
            assert "Traceback" not in again.stderr
            half = start_another(SHARD_COUNT="2", SHARD_IDS="1")
            assert half.returncode == 1 and f"{holder} already serves shard 1 from" in half.stderr

            elsewhere = tmp_path / "elsewhere"
            shutil.copytree(built_catalog, elsewhere)
            twin = BotProcess(discord, elsewhere, tmp_path / "twin.log")
            twin.start()
            try:
                answers = [recommend(discord, member(), catalog_video(data, i), 3) for i in (1, 2)]
                assert all(a["kind"] == "public" for a in answers)
                explained = "another process answered interaction"
                discord.wait_for(
                    lambda: explained in first.log_text() + twin.log_text(), 20, "the loser's line"
                )
                for bot in (first, twin):
                    log = bot.log_text()
                    assert "Traceback" not in log and "error id" not in log.lower(), log[-3000:]
            finally:
                twin.stop()
        finally:
            first.stop()
