"""A member's own audio (issue 23): a file attached to /recommend, or a voice message or
audio file under Find similar music, through the local Discord API (its CDN serves the
attachment behind a signed, expiring URL, as Discord's does) and the real bot process.
The answer is private unless shared, the audio is deleted once heard, and nothing of it
is kept; what earshot will not listen to is refused before a byte is fetched."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from recommender.sources.uploads import Upload, UploadRefusedError, check
from scripts.standins.bot_process import BotProcess
from scripts.standins.discord_api import FakeDiscord
from scripts.standins.media import make_song
from tests.test_bot import member, outcome

ACCEPTED = "Accepted: an audio or video file (mp3, m4a, ogg, opus, wav, flac, mp4, webm…)"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("uploads")
    make_song(root / "my demo.mp3", 30.0, tone=247.0)
    make_song(root / "voice-message.ogg", 12.0, tone=196.0)
    make_song(root / "short.mp3", 2.0)
    (root / "notes.pdf").write_bytes(b"%PDF-1.4\n" + b"\0" * 2000)
    (root / "broken.mp3").write_bytes(b"\xff\xfb" + bytes(range(256)) * 40)
    (root / "huge.wav").write_bytes(b"\0" * ((10 << 20) + 1))
    return root


@pytest.fixture(scope="module")
def bot_world(
    built_catalog: Path,
    fake_vggish: Path,
    pca_params: Path,
    tmp_path_factory: pytest.TempPathFactory,
):
    data = tmp_path_factory.mktemp("uploads-bot") / "data"
    shutil.copytree(built_catalog, data)
    with FakeDiscord() as discord:
        bot = BotProcess(
            discord,
            data,
            data.parent / "bot.log",
            VGGISH_MODEL=str(fake_vggish),
            VGGISH_PCA_PARAMS=str(pca_params),
            EARSHOT_TEST_ALLOW_LOOPBACK="1",
        )
        bot.start()
        try:
            yield discord, data
        finally:
            bot.stop()


def kept(data: Path) -> tuple[int, int, list[Path]]:
    """Tracks, cached embeddings, and files left in the temporary folder."""
    with sqlite3.connect(data / "earshot.sqlite3") as db:
        tracks = db.execute("SELECT COUNT(*) FROM tracks").fetchone()[0]
        cached = db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
    left = [p for p in (data / "tmp").rglob("*") if p.is_file()] if (data / "tmp").exists() else []
    return tracks, cached, left


def test_a_file_is_heard_privately_and_nothing_of_it_is_kept(bot_world, files: Path) -> None:
    discord, data = bot_world
    before = kept(data)
    reads = len(discord.cdn_reads)
    song = discord.upload(files / "my demo.mp3")
    answer = outcome(discord, discord.interaction(member(), "recommend", file=song, count=3))
    assert answer["kind"] == "private" and answer["ephemeral"], answer["content"]
    embed = answer["message"]["embeds"][0]
    assert embed["title"] == "Sounds like: my demo.mp3" and "url" not in embed
    lines = embed["description"].splitlines()
    assert "Heard: 'my demo.mp3' (0:30), deleted once heard" in lines
    assert len([line for line in lines if line.startswith("**")]) == 3
    assert embed["footer"]["text"].startswith("Only you can see this.")
    assert len(discord.cdn_reads) == reads + 1
    assert kept(data)[:2] == before[:2] and kept(data)[2] == []  # no row, no cache, no file
    # Shared, the answer is public, with its rating reactions.
    shared = outcome(
        discord,
        discord.interaction(member(), "recommend", file=song, count=2, share=True),
        reactions=3,
    )
    assert shared["kind"] == "public", shared["content"]
    assert shared["message"]["embeds"][0]["title"] == "Sounds like: my demo.mp3"


def test_a_voice_message_is_heard_from_the_message_menu(bot_world, files: Path) -> None:
    discord, data = bot_world
    voice = discord.upload(
        files / "voice-message.ogg", content_type="audio/ogg", voice=True, duration_s=12.0
    )
    message = discord.post(member(), "", attachments=[voice])
    answer = outcome(discord, discord.message_command(member(), "Find similar music", message))
    assert answer["kind"] == "private", answer["content"]
    embed = answer["message"]["embeds"][0]
    assert embed["title"] == "Sounds like: Your voice message"
    assert "Heard: your voice message (0:12), deleted once heard" in embed["description"]
    # A file under a message is heard the same way, before any link in its text.
    post = discord.post(member(), "my new one! https://example.com/x", [], attachments=[
        discord.upload(files / "my demo.mp3")
    ])  # fmt: skip
    again = outcome(discord, discord.message_command(member(), "Find similar music", post))
    assert again["kind"] == "private", again["content"]
    assert kept(data)[2] == []


def test_what_earshot_will_not_listen_to_is_refused_before_fetching(bot_world, files: Path) -> None:
    discord, data = bot_world
    reads = len(discord.cdn_reads)

    def refused(**options: object) -> str:
        told = outcome(discord, discord.interaction(member(), "recommend", **options))
        assert told["kind"] == "immediate" and told["ephemeral"], told
        return told["content"]

    said = refused(file=discord.upload(files / "notes.pdf"))
    assert said.startswith("'notes.pdf' is not audio (application/pdf). " + ACCEPTED)
    said = refused(file=discord.upload(files / "huge.wav"))
    assert said.startswith("'huge.wav' is 10.0 MB, over earshot's limit of 10 MB for files.")
    short_voice = discord.upload(
        files / "short.mp3", filename="voice-message.ogg", voice=True, duration_s=1.5
    )
    assert refused(file=short_voice) == (
        "Your voice message is 1.5 s long; earshot needs at least 3 s of music to hear what "
        "it sounds like."
    )
    said = refused(song="daft punk one more time", file=discord.upload(files / "my demo.mp3"))
    assert said.startswith("Give a song or a file, not both")
    assert refused().startswith("Name a song, or attach one. Accepted: a song's name")
    assert len(discord.cdn_reads) == reads  # not a byte fetched
    # Known only once heard: a file too short, or not audio at all; and an expired link.
    for upload, start in (
        (discord.upload(files / "short.mp3"), "'short.mp3' is 2.0 s long; earshot needs"),
        (discord.upload(files / "broken.mp3"), "Earshot could not hear 'broken.mp3' as audio"),
        (
            discord.upload(files / "my demo.mp3", expires_s=-60),
            "Discord no longer has 'my demo.mp3' (its link expired",
        ),
    ):
        told = outcome(discord, discord.interaction(member(), "recommend", file=upload))
        assert told["kind"] == "private" and told["content"].startswith(start), told["content"]
    assert kept(data)[2] == []


@pytest.mark.parametrize(
    "url",
    [
        "https://cdn.discordapp.com.evil.example/attachments/1/2/a.mp3",
        "https://cdn.discordapp.com@evil.example/attachments/1/2/a.mp3",
        "https://evil.example/attachments/1/2/a.mp3?host=cdn.discordapp.com",
        "http://cdn.discordapp.com/attachments/1/2/a.mp3",  # not over TLS
        "https://127.0.0.1/attachments/1/2/a.mp3",  # loopback, outside the tests' switch
        "file:///etc/passwd",
    ],
)
def test_a_file_from_anywhere_but_discords_cdn_is_refused(url: str) -> None:
    upload = Upload(url, "a.mp3", "audio/mpeg", 1000)
    with pytest.raises(UploadRefusedError, match="not on Discord's own servers"):
        check(upload, 10 << 20)


def test_discords_own_cdn_hosts_are_taken() -> None:
    for host in ("cdn.discordapp.com", "media.discordapp.net"):
        check(Upload(f"https://{host}/attachments/1/2/a.mp3?ex=1&is=2&hm=3", "a.mp3",
                     "audio/mpeg", 1000), 10 << 20)  # fmt: skip
