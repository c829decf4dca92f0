"""Trying earshot out: recommend for a link or a local file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ...config import Settings
from ...results import RecommendResult
from ...sources.naming import parse_song
from ...sources.reference import SongRefError
from .common import command, engine_for


async def cmd_recommend(args: argparse.Namespace, settings: Settings) -> int:
    """Print the clips most similar to a song named any way (a link, an id or words, as
    /recommend takes it) or a local audio file. A song that is not in the catalog is
    fetched, listened to and cached."""
    if (args.video is None) == (args.file is None):
        print("recommend needs a SONG (a link, an id or words) or --file PATH, not both",
              file=sys.stderr)  # fmt: skip
        return 2
    async with engine_for(settings) as engine:
        if args.file is not None:
            result = await engine.recommend_file(args.file, args.count)
        else:
            result = await engine.recommend(args.video, args.count)
    return _print_result(result, args.json)


async def cmd_discover(args: argparse.Namespace, settings: Settings) -> int:
    """Print the clips that best match a described sound (a genre, an instrument, a mood,
    together if given), alone or steered from a song (--like, named as /recommend takes
    it)."""
    async with engine_for(settings) as engine:
        result = await engine.discover(
            genre=args.genre,
            instrument=args.instrument,
            mood=args.mood,
            like=args.like,
            count=args.count,
        )
    return _print_result(result, args.json)


def _print_result(result: RecommendResult, as_json: bool) -> int:
    if as_json:
        print(
            json.dumps(
                {
                    "query": vars(result.query),
                    "items": [vars(item) for item in result.items],
                },
                indent=2,
            )
        )
        return 0
    q = result.query
    if q.described:
        print(f"looked for: {q.described}")
    if q.title or q.video_id:
        print(f"{q.title or q.video_id} ({q.source}) {q.url}")
    if q.labels:
        print(f"  labels: {', '.join(q.labels)}")
    if q.tags:
        print(f"  sounds like: {', '.join(q.tags)}")
    for n, item in enumerate(result.items, 1):
        print(f"{n:>2}. {item.url}  score {item.score:.3f}  sound {item.sound_similarity:+.2f}")
        if item.labels:
            print(f"    {', '.join(item.labels)}")
    return 0


async def cmd_parse(args: argparse.Namespace, settings: Settings) -> int:
    """Print what earshot understands from a song named any way (a link to YouTube,
    Spotify, Apple Music, Deezer, SoundCloud or Bandcamp, a YouTube id, a Spotify URI, or
    words), without touching the network. A refusal says why, and exits 1."""
    try:
        ref = parse_song(args.text)
    except SongRefError as exc:
        if args.json:
            print(json.dumps({"ok": False, "error": str(exc)}))
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"ok": True, **ref.as_json()}))
    else:
        start = f" from {ref.start_s:g} s" if ref.start_s else ""
        print(f"{ref.source}: {ref.id}{start}" + (f"  {ref.url}" if ref.url else ""))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = command(sub, cmd_parse, "print what earshot understands from a song's name or link")
    p.add_argument("text", help="a link, an id, or words (quote them)")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command(sub, cmd_discover, "print the clips that match a described sound")
    p.add_argument("--genre", help="a genre: its name or a common word for it (hip hop, rnb)")
    p.add_argument("--instrument", help="an instrument (piano, sax, synth...)")
    p.add_argument("--mood", help="a mood (happy, sad, tender, exciting, angry, scary, funny)")
    p.add_argument("--like", metavar="SONG", help="a song to steer from, named any way")
    p.add_argument(
        "--count", type=int, default=5, choices=range(1, 51), metavar="N",
        help="how many suggestions (1-50, default 5)",
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command(sub, cmd_recommend, "print the clips that sound most like a song")
    p.add_argument(
        "video",
        nargs="?",
        metavar="SONG",
        help="a link to one song (YouTube, Spotify, Deezer, Apple Music), a YouTube id, or "
        "the song's name in words (quote them; put -- before an id that starts with -)",
    )
    p.add_argument(
        "--file",
        type=Path,
        metavar="PATH",
        help="a local audio file instead of a video (any format ffmpeg reads)",
    )
    p.add_argument(
        "--count",
        type=int,
        default=5,
        choices=range(1, 51),
        metavar="N",
        help="how many suggestions (1-50, default 5)",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
