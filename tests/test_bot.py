"""The real bot process and the real discord.py client, against a local Discord API.

Members are played by the fake API: it sends INTERACTION_CREATE and reaction events over
the gateway and records every REST call the bot makes.
"""

from __future__ import annotations

import itertools
import re
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from recommender.results import PLAY_ALL_URL
from scripts.standins.bot_process import BotProcess
from scripts.standins.discord_api import FakeDiscord, Member
from scripts.standins.http_range import RangeServer
from scripts.standins.media import make_song
from scripts.standins.oembed import channel_of, title_of

NUMBERS = ["1️⃣", "2️⃣", "3️⃣", "4️⃣", "5️⃣", "6️⃣", "7️⃣", "8️⃣", "9️⃣", "🔟"]
NEW_SONG = "newsong0001"
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
            VGGISH_MODEL=str(fake_vggish),
            VGGISH_PCA_PARAMS=str(pca_params),
            EARSHOT_TEST_ALLOW_LOOPBACK="1",
            EARSHOT_TEST_MEDIA_BASE=youtube.url(""),
            SECTION_SECONDS="5",
            BOT_ADMINS="1234",
        )
        bot.start()
        try:
            yield discord, youtube, bot, data
        finally:
            bot.stop()


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


def outcome(discord: FakeDiscord, record: dict, reactions: int = 0, timeout: float = 90) -> dict:
    """Wait for the bot to finish answering an interaction; describe the answer."""

    def finished():
        if not record["responses"]:
            return None
        first = record["responses"][0]
        if first["type"] == 4:
            message = discord.messages[record["original"]]
            return {
                "kind": "immediate",
                "ephemeral": bool(message["flags"] & 64),
                "content": message["content"],
                "message": message,
            }
        if record.get("followups"):
            message = discord.messages[record["followups"][-1]]
            return {
                "kind": "followup",
                "ephemeral": bool(message["flags"] & 64),
                "content": message["content"],
                "message": message,
                "original_deleted": discord.messages[record["original"]].get("deleted"),
            }
        message = discord.messages.get(record.get("original"))
        if (
            message
            and not message["flags"] & 128
            and (message["embeds"] or message["content"])
            and len(message.get("bot_reactions", [])) >= reactions
        ):
            return {
                "kind": "edited",
                "ephemeral": False,
                "content": message["content"],
                "message": message,
            }
        return None

    return discord.wait_for(finished, timeout, f"an answer to /{record['data']['name']}")


def recommend(discord: FakeDiscord, who: Member, url: str, count: int = 5) -> dict:
    record = discord.interaction(who, "recommend", url=url, count=count)
    return outcome(discord, record, reactions=min(count, 10) + 1)


def test_logs_in_and_syncs_the_commands(world) -> None:
    discord, _, _, _ = world
    names = {c["name"]: c for c in discord.commands}
    assert set(names) == {"recommend", "reindex", "stats", "taste", "Find similar music"}
    options = {o["name"]: o for o in names["recommend"]["options"]}
    assert options["count"]["type"] == 4 and options["count"]["min_value"] == 1
    assert options["count"]["max_value"] == 20 and not options["count"].get("required")
    assert options["url"]["type"] == 3 and options["url"]["required"]
    assert str(names["reindex"]["default_member_permissions"]) == "8"  # hidden from members
    calls = [(c.method, c.path) for c in discord.calls]
    assert ("GET", "/users/@me") in calls and ("GET", "/oauth2/applications/@me") in calls


def test_recommend_a_catalog_clip(world) -> None:
    discord, _, _, data = world
    video = catalog_video(data, 3)
    record = discord.interaction(member(), "recommend", url=f"https://youtu.be/{video}", count=4)
    answer = outcome(discord, record, reactions=5)
    assert record["responses"][0]["type"] == 5  # deferred at once
    assert answer["kind"] == "edited"
    embed = answer["message"]["embeds"][0]
    assert embed["title"] == f"Sounds like: {title_of(video)}"
    assert embed["url"].startswith(f"https://www.youtube.com/watch?v={video}")
    lines = [line for line in embed["description"].splitlines() if line.startswith("**")]
    assert [line[:5] for line in lines] == ["**1.*", "**2.*", "**3.*", "**4.*"]
    suggested = re.findall(r"\(https://www\.youtube\.com/watch\?v=([\w-]{11})", "\n".join(lines))
    assert len(suggested) == 4
    for line, shown in zip(lines, suggested, strict=True):  # a title and a channel on each
        assert f"[{title_of(shown)}](https://www.youtube.com/watch?v={shown}" in line
        assert f" — {channel_of(shown)}" in line and "% match" in line
    play_all = f"[▶ Play all 4 as one YouTube queue]({PLAY_ALL_URL}{','.join(suggested)})"
    assert play_all in embed["description"]
    assert video not in embed["description"].split("tags:")[-1].split("**1.**")[-1]
    assert "React 1️⃣" in embed["footer"]["text"]
    assert answer["message"]["bot_reactions"] == [*NUMBERS[:4], "👎"]


def test_recommend_a_new_video_then_from_the_cache(world) -> None:
    discord, youtube, _, _ = world
    first = recommend(discord, member(), f"https://www.youtube.com/watch?v={NEW_SONG}", 3)
    assert first["kind"] == "edited"
    assert any(path == f"/{NEW_SONG}" for path, _ in youtube.requests)
    before = len(youtube.requests)
    again = recommend(discord, member(), f"https://youtu.be/{NEW_SONG}", 3)
    assert again["kind"] == "edited" and len(youtube.requests) == before
    assert (
        again["message"]["embeds"][0]["description"] == first["message"]["embeds"][0]["description"]
    )


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

    bot.stop()
    bot.start()
    discord.react(alice, message, "4️⃣")
    discord.wait_for(lambda: ratings(data, alice.id) == {4: 1}, 20, "a like after a restart")


def test_errors_are_ephemeral_and_human(world) -> None:
    discord, _, _, _ = world
    bad = recommend(discord, member(), "https://evil.example/watch?v=abcdefghijk")
    assert bad["ephemeral"] and "is not YouTube" in bad["content"] and "Accepted:" in bad["content"]
    assert bad.get("original_deleted")  # the public "thinking…" placeholder is gone
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
    assert all(a["kind"] == "edited" for a in answers)
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
    assert after["kind"] == "edited"


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
    assert answer["ephemeral"]
    assert fields["Catalog"] == f"{tracks:,} tracks ({members:,} from members)"
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
    assert answer["kind"] == "edited"


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
            assert recommend(discord, bob, catalog_video(data, 1), 2)["kind"] == "edited"
            again = outcome(
                discord, discord.interaction(bob, "recommend", url=catalog_video(data, 2))
            )
            assert again["ephemeral"] and "ask again in" in again["content"]
            assert "seconds" in again["content"]
        finally:
            bot.stop()


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
            assert answer["ephemeral"] and "python -m recommender reindex" in answer["content"]
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
    discord, _, _, data = world
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
    button = taste["message"]["components"][0]["components"][0]
    assert button["label"] == "Forget my ratings"
    click = discord.click(carol, taste["message"], button["custom_id"])
    discord.wait_for(lambda: click["responses"], 20, "the button's answer")
    assert click["responses"][0]["type"] == 7
    assert "5 ratings deleted" in click["responses"][0]["data"]["content"]
    assert ratings(data, carol.id) == {}


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
    assert answer["kind"] == "edited"
    assert answer["message"]["embeds"][0]["url"].startswith(
        f"https://www.youtube.com/watch?v={video}"
    )
    plain = discord.post(dave, "no links here")
    refused = outcome(discord, discord.message_command(member(), "Find similar music", plain))
    assert refused["ephemeral"] and "no YouTube video link" in refused["content"]


def test_fifty_requests_at_once_all_get_an_answer(world) -> None:
    discord, _, _, data = world
    records = [
        discord.interaction(member(), "recommend", url=catalog_video(data, 40 + i), count=3)
        for i in range(35)
    ] + [
        discord.interaction(member(), "recommend", url=f"https://youtu.be/absent{i:05d}", count=3)
        for i in range(15)
    ]
    answers = [outcome(discord, record, reactions=4, timeout=240) for record in records]
    served = [a for a in answers if a["kind"] == "edited"]
    refused = [a for a in answers if a["ephemeral"]]
    assert len(served) + len(refused) == 50
    assert len(served) >= 35  # every catalog clip is answered
    contents = {a["content"] for a in refused}
    assert all(("unavailable" in c or "try again" in c) for c in contents), contents
