"""``sources``: request to answer, through the bot and the local Discord API, for each way
to name a song (a link to each site, words, a file, a voice message), each against its
stand-in."""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from scripts.benchmarks.harness import (
    SHARED_PCA,
    answered,
    build_shared_catalog,
    machine,
    shipped_tagger,
)

HELP = "request to answer for each way to name a song"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--songs", type=int, default=3, help="new songs per way")
    parser.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> dict:
    """Request to answer, through the bot and the local Discord API, for each way to name a
    song, each against its stand-in: a new YouTube video, a Spotify, Deezer and Apple Music
    preview, words (YouTube Music's search, then the video found), a SoundCloud and a
    Bandcamp track, a file attached to /recommend, and a voice message under Find similar
    music. Every song is new (nothing cached), and each is asked alone."""
    import numpy as np

    from scripts.standins.bot_process import BotProcess
    from scripts.standins.discord_api import FakeDiscord, Member
    from scripts.standins.http_range import RangeServer
    from scripts.standins.media import make_song
    from scripts.standins.music_apis import MusicApis
    from scripts.standins.oembed import OEmbedServer
    from scripts.standins.vggish_architecture import build_vggish_architecture
    from scripts.standins.youtube_search import Result, YouTubeSearch

    n = args.songs
    with tempfile.TemporaryDirectory(prefix="earshot-bench-") as tmp_name:
        tmp = Path(tmp_name)
        data = tmp / "data"
        build_shared_catalog(data)
        model = build_vggish_architecture(tmp / "vggish")
        media, previews = tmp / "media", tmp / "previews"
        for folder in (media, media / "soundcloud:bench", media / "bandcamp:bench", previews):
            folder.mkdir(parents=True)
        tone = iter(range(1000))
        for i in range(n):  # four-minute songs; 30 s previews, a 20 s voice message
            for path in (
                media / f"benchyt{i:04d}.mp3",
                media / f"benchwd{i:04d}.mp3",
                media / "soundcloud:bench" / f"track-{i}.mp3",
                media / "bandcamp:bench" / f"track-{i}.mp3",
                tmp / f"upload-{i}.mp3",
            ):
                make_song(path, 240.0, tone=110.0 + 7 * next(tone))
            make_song(previews / f"preview-{i}.mp3", 30.0, tone=110.0 + 7 * next(tone))
            make_song(tmp / f"voice-{i}.ogg", 20.0, tone=110.0 + 7 * next(tone))
        make_song(media / "benchwarmup.mp3", 240.0, tone=97.0)
        with (
            FakeDiscord() as discord,
            RangeServer(media) as youtube,
            OEmbedServer() as oembed,
            MusicApis(previews) as apis,
            YouTubeSearch() as search,
        ):
            forms: dict[str, list] = {name: [] for name in (
                "youtube", "spotify", "deezer", "apple_music", "words", "soundcloud",
                "bandcamp", "file", "voice_message",
            )}  # fmt: skip
            for i in range(n):
                spotify_id = f"{i:022d}".replace("0", "A")
                apis.add_spotify(spotify_id, f"Song {i}", ["Artist"], 200, f"preview-{i}.mp3")
                apis.add_deezer(str(900 + i), f"Song {i}", "Artist", 200, f"preview-{i}.mp3")
                apis.add_apple(str(800 + i), f"Song {i}", "Artist", 200, f"preview-{i}.mp3")
                search.add(
                    f"the bench band song number {i}",
                    songs=[Result(f"benchwd{i:04d}", f"Song Number {i}", "The Bench Band", 240)],
                )
                forms["youtube"].append({"song": f"https://youtu.be/benchyt{i:04d}"})
                forms["spotify"].append({"song": f"https://open.spotify.com/track/{spotify_id}"})
                forms["deezer"].append({"song": f"https://www.deezer.com/track/{900 + i}"})
                forms["apple_music"].append(
                    {"song": f"https://music.apple.com/us/album/x/1?i={800 + i}"}
                )
                forms["words"].append({"song": f"the bench band song number {i}"})
                forms["soundcloud"].append({"song": f"https://soundcloud.com/bench/track-{i}"})
                forms["bandcamp"].append({"song": f"https://bench.bandcamp.com/track/track-{i}"})
                forms["file"].append({"file": discord.upload(tmp / f"upload-{i}.mp3")})
                voice = discord.upload(tmp / f"voice-{i}.ogg", voice=True, duration_s=20.0)
                forms["voice_message"].append({"message": [voice]})
            bot = BotProcess(
                discord,
                data,
                tmp / "bot.log",
                VGGISH_MODEL=str(model),
                VGGISH_PCA_PARAMS=str(SHARED_PCA),
                EARSHOT_TEST_ALLOW_LOOPBACK="1",
                EARSHOT_TEST_MEDIA_BASE=youtube.url(""),
                EARSHOT_TEST_OEMBED_BASE=oembed.base,
                EARSHOT_TEST_MUSIC_BASE=apis.base,
                EARSHOT_TEST_YOUTUBE_PROXY=search.url,
                EARSHOT_TEST_YOUTUBE_CA=str(search.ca_file),
                **shipped_tagger(),
                REQUEST_TIMEOUT_SECONDS="300",
            )
            bot.start()
            who = iter(range(90_000, 99_000))

            def ask(options: dict) -> float:
                member = Member(next(who), "bench")
                started = time.perf_counter()
                if "message" in options:
                    post = discord.post(member, "", attachments=options["message"])
                    record = discord.message_command(member, "Find similar music", post)
                else:
                    record = discord.interaction(member, "recommend", count=5, **options)
                discord.wait_for(lambda: answered(discord, record), 600, "an answer")
                seconds = time.perf_counter() - started
                original = discord.messages.get(record.get("original") or 0) or {}
                posted = [discord.messages[m] for m in record.get("followups", [])]
                said = [m for m in [original, *posted] if m.get("embeds")]
                assert said, f"refused: {original.get('content')}"
                return seconds

            try:
                ask({"song": "https://youtu.be/benchwarmup"})  # the workers load the model
                figures = {}
                for name, asked in forms.items():
                    seconds = np.asarray([ask(options) for options in asked])
                    figures[name] = {
                        "songs": len(seconds),
                        "p50_s": round(float(np.percentile(seconds, 50)), 2),
                        "max_s": round(float(seconds.max()), 2),
                    }
            finally:
                bot.stop()
        shutil.rmtree(data, ignore_errors=True)
    youtube_p50 = figures["youtube"]["p50_s"]
    for figure in figures.values():
        figure["ratio_to_youtube"] = round(figure["p50_s"] / youtube_p50, 2)
    return {
        "benchmark": "sources",
        "machine": machine(),
        "what": "request to answer through the bot, one new song at a time, warm workers",
        "songs": "4 min songs (two 30 s sections heard), 30 s previews, a 20 s voice message",
        "sources": figures,
        "model": "VGGish architecture, random weights",
    }
