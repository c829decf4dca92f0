#!/usr/bin/env python
"""A member's whole path through earshot, printed as Markdown: ask, see the suggestions,
rate, ask again, see the change, then /taste. The real bot (``python -m bot``) runs
against the local Discord API stand-in, with oEmbed's stand-in for titles.

    python scripts/demo_conversation.py DATA_DIR   # a data folder with catalog and index

Writes nothing to the data folder it is given (it works on a copy).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.standins.bot_process import BotProcess  # noqa: E402
from scripts.standins.cli import run_cli  # noqa: E402
from scripts.standins.discord_api import FakeDiscord, Member  # noqa: E402
from scripts.standins.media import make_song  # noqa: E402
from scripts.standins.music_apis import MusicApis  # noqa: E402
from scripts.standins.oembed import OEmbedServer  # noqa: E402
from scripts.standins.vggish_interface import build_fake_vggish  # noqa: E402
from scripts.standins.youtube_search import Result, YouTubeSearch  # noqa: E402

# The shared AudioSet sample's PCA parameters (EARSHOT_AUDIOSET_SAMPLE or ../shared).
PCA = (
    Path(os.environ.get("EARSHOT_AUDIOSET_SAMPLE") or ROOT.parent / "shared" / "data" / "audioset")
    / "vggish_pca_params.npz"
)


def _embed_text(message: dict) -> str:
    embed = message["embeds"][0]
    lines = [f"**{embed['title']}**"]
    lines += [embed.get("description", "")]
    lines += [f"{f['name']}: {f['value']}" for f in embed.get("fields", [])]
    lines += [f"_{embed['footer']['text']}_"] if embed.get("footer") else []
    return "\n".join(lines)


def _ratings(data: Path, user: int) -> int:
    with sqlite3.connect(data / "earshot.sqlite3") as db:
        return db.execute("SELECT COUNT(*) FROM ratings WHERE user_id = ?", (user,)).fetchone()[0]


def _answer(discord: FakeDiscord, record: dict, reactions: int) -> dict:
    return discord.wait_for(lambda: discord.public_reply(record, reactions), 120, "the reply")[0]


# The server's own songs (invented artists), one of them with a video YouTube Music finds.
LIBRARY = [
    ("The Quiet Hours", "Lantern", "Low Tide", 233.0),
    ("Mara Vell", "Northern Line", "Commuter", 187.0),
    ("Okonkwo Trio", "Harmattan", "Dry Season", 301.0),
    ("Juno Park", "Paper Boats", "", 205.0),
]


def _songs_first(
    discord: FakeDiscord, data: Path, tmp: Path, search: YouTubeSearch, asked: str, env: dict
) -> list[str]:
    """The owner adds a folder of songs and reindexes while the bot runs; the next reply
    draws from them first (SUGGEST_FROM=songs-first, the default)."""
    music = tmp / "music"
    music.mkdir()
    for n, (artist, title, album, seconds) in enumerate(LIBRARY):
        tags = {"artist": artist, "title": title, **({"album": album} if album else {})}
        make_song(music / f"{n + 1:02d} {title}.flac", seconds, tone=180.0 + 35 * n, tags=tags)
    found = Result("LanternQH01", "Lantern", "The Quiet Hours", 233, "Low Tide")
    search.add("The Quiet Hours Lantern", songs=[found])
    added = run_cli(data, "add", str(music), ADD_YOUTUBE_PACE_SECONDS="0", **env).stdout
    run_cli(data, "reindex", **env)
    current = (data / "index" / "CURRENT").read_text().strip()
    discord.wait_for(lambda: current in _served(tmp / "bot.log"), 60, "the new index")
    sam = Member(4747, "sam")
    asked_link = f"https://youtu.be/{asked}"
    reply = _answer(discord, discord.interaction(sam, "recommend", song=asked_link), 6)
    hum = make_song(tmp / "sam-hums.ogg", 14.0, tone=215.0)  # close to "Northern Line"
    voice = discord.upload(hum, voice=True, duration_s=14.0)
    record = discord.message_command(
        sam, "Find similar music", discord.post(sam, "", attachments=[voice])
    )
    discord.wait_for(
        lambda: (discord.messages.get(record.get("original")) or {}).get("embeds"), 120, "Sam's"
    )
    return [
        "", "The owner adds a folder of four songs, then reindexes:", "",
        f"    $ python -m recommender add {music.name}", "",
        *("    " + line for line in added.strip().splitlines()), "",
        f"Sam: `/recommend song:{asked_link}`: none of the four sounds like it, so",
        "AudioSet's clips, clearly closer, keep their places.", "",
        "```", _embed_text(reply), "```", "",
        "Sam hums something like one of the songs into a voice message, then Apps > Find",
        "similar music on it (only he sees the answer):", "",
        "```", _embed_text(discord.messages[record["original"]]), "```",
    ]  # fmt: skip


def _served(log: Path) -> str:
    return log.read_text(errors="replace") if log.exists() else ""


def main() -> int:
    source = Path(sys.argv[1])
    with tempfile.TemporaryDirectory(prefix="earshot-demo-") as tmp:
        data = Path(tmp) / "data"
        shutil.copytree(source, data)
        with sqlite3.connect(data / "earshot.sqlite3") as db:
            songs = [
                v
                for (v,) in db.execute(
                    "SELECT video_id FROM tracks WHERE labels LIKE '%' AND source != 'member'"
                    " ORDER BY id LIMIT 2 OFFSET 300"
                )
            ]
        make_song(Path(tmp) / "one-more-time.mp3", 30.0, tone=220.0)
        make_song(Path(tmp) / "voice-message.ogg", 14.0, tone=196.0)
        with (
            FakeDiscord() as discord,
            OEmbedServer() as youtube,
            MusicApis(Path(tmp)) as apis,
            YouTubeSearch() as search,
        ):
            apis.add_deezer("3135556", "One More Time", "Daft Punk", 320, "one-more-time.mp3")
            apis.add_spotify("0DiWol3AO6WpXZgp0goxAV", "One More Time", ["Daft Punk"], 320,
                             "one-more-time.mp3")  # fmt: skip
            search.add(
                "daft punk around the world",
                songs=[
                    Result("AroundLive1", "Around the World (Live 1997)", "Daft Punk", 460),
                    Result(songs[1], "Around the World", "Daft Punk", 429, "Homework"),
                ],
            )
            env = dict(
                EARSHOT_TEST_ALLOW_LOOPBACK="1",
                EARSHOT_TEST_OEMBED_BASE=youtube.base,
                EARSHOT_TEST_MUSIC_BASE=apis.base,
                EARSHOT_TEST_YOUTUBE_PROXY=search.url,
                EARSHOT_TEST_YOUTUBE_CA=str(search.ca_file),
                # A model of VGGish's architecture, built here: nothing is fetched.
                VGGISH_MODEL=str(build_fake_vggish(Path(tmp) / "vggish")),
                VGGISH_PCA_PARAMS=str(PCA),
                TAGGER_STEPS="1200",
                TAGGER_MEMBERS="2",
            )
            bot = BotProcess(discord, data, Path(tmp) / "bot.log", **env)
            bot.start()
            try:
                ana = Member(4242, "ana")
                out = []
                first = _answer(
                    discord,
                    discord.interaction(ana, "recommend", song=f"https://youtu.be/{songs[0]}"),
                    6,
                )
                out += [f"Ana: `/recommend song:https://youtu.be/{songs[0]}`", "", "```"]
                out += [_embed_text(first), "```", ""]
                discord.react(ana, int(first["id"]), "2️⃣")
                discord.react(ana, int(first["id"]), "👎")
                out += ["Ana reacts 2️⃣ (she likes the second) and 👎 (the rest missed).", ""]
                ratings = discord.wait_for(
                    lambda: _ratings(data, ana.id) == 5 and True, 30, "her ratings"
                )
                assert ratings
                again = _answer(
                    discord,
                    discord.interaction(ana, "recommend", song=f"https://youtu.be/{songs[0]}"),
                    6,
                )
                out += ["Ana asks about the same song again: what she skipped is gone.", ""]
                out += [f"Ana: `/recommend song:https://youtu.be/{songs[0]}`", "", "```"]
                out += [_embed_text(again), "```", ""]
                ben = Member(4343, "ben")
                pasted = "https://www.youtube.com/playlist?list=PLx0sYbCqOb8"
                refusal = discord.interaction(ben, "recommend", song=pasted)
                told = discord.wait_for(lambda: discord.private_answer(refusal), 60, "why not")
                out += [f"Ben: `/recommend song:{pasted}` (only he sees the answer)", ""]
                out += ["```", told, "```", ""]
                taste = discord.interaction(ana, "taste")
                discord.wait_for(lambda: taste.get("original"), 60, "/taste")
                out += ["Ana: `/taste` (only she sees the answer)", "", "```"]
                out += [_embed_text(discord.messages[taste["original"]]), "```"]
                mia, deezer = Member(4444, "mia"), "https://www.deezer.com/track/3135556"
                heard = _answer(discord, discord.interaction(mia, "recommend", song=deezer), 6)
                out += ["", f"Mia: `/recommend song:{deezer}` (its preview is a synthetic tone)"]
                out += ["", "```", _embed_text(heard), "```"]
                spotify = "https://open.spotify.com/track/0DiWol3AO6WpXZgp0goxAV?si=4f2a"
                heard = _answer(discord, discord.interaction(mia, "recommend", song=spotify), 6)
                out += ["", f"Mia: `/recommend song:{spotify}`", "", "```"]
                out += [_embed_text(heard), "```"]
                leo, words = Member(4545, "leo"), "daft punk around the world"
                found = _answer(discord, discord.interaction(leo, "recommend", song=words), 6)
                out += ["", f"Leo: `/recommend song:{words}`", "", "```"]
                out += [_embed_text(found), "```"]
                zoe = Member(4646, "zoe")
                typed = discord.autocomplete(zoe, "discover", "mood", "sa")
                out += ["", "Zoe types `sa` into /discover's mood option; Discord offers:", ""]
                out += ["```", ", ".join(c["name"] for c in typed), "```"]
                record = discord.interaction(zoe, "discover", mood="Sad music", instrument="piano")
                described = _answer(discord, record, 6)
                out += ["", "Zoe: `/discover mood:Sad music instrument:piano`", "", "```"]
                out += [_embed_text(described), "```"]
                voice = discord.upload(Path(tmp) / "voice-message.ogg", voice=True, duration_s=14.0)
                hummed = discord.post(leo, "", attachments=[voice])
                record = discord.message_command(leo, "Find similar music", hummed)
                discord.wait_for(
                    lambda: (discord.messages.get(record.get("original")) or {}).get("embeds"),
                    120,
                    "the private answer",
                )
                out += ["", "Leo records a voice message, then Apps > Find similar music on it"]
                out += ["(only he sees the answer)", "", "```"]
                out += [_embed_text(discord.messages[record["original"]]), "```"]
                out += _songs_first(discord, data, Path(tmp), search, songs[0], env)
                print("\n".join(out))
            finally:
                bot.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
