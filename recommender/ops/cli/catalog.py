"""The catalog and its index: ingest, reindex, verify, stats."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ...config import Settings
from ...results import IndexInfo
from ...sources.catalog_source import ACCEPTED, source_kind
from .common import SPLITS, bars, command, engine_for, folder_option

if TYPE_CHECKING:
    from ...engine import Engine
    from ...listening.adding import AddReport


async def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    """Store the music clips of AudioSet .tfrecord files in the catalog. Safe to rerun or
    resume: files already in are skipped."""
    if not args.download and not args.audioset:
        print("ingest needs --audioset DIR or --download", file=sys.stderr)
        return 2
    return await ingest_from(settings, args.audioset, args.meta, args.download, args.splits)


async def ingest_from(
    settings: Settings,
    audioset: Path | None,
    meta: Path | None,
    download: bool,
    splits: list[str],
) -> int:
    from ...audioset import download as release

    source = audioset
    if download:
        source = audioset or settings.data_dir / "audioset"
        with bars() as progress:
            await asyncio.to_thread(
                release.download_release,
                source,
                features_url=settings.audioset_features_url or release.FEATURES_URL,
                features_sha256=settings.audioset_features_sha256 or release.FEATURES_SHA256,
                class_labels_url=settings.audioset_class_labels_url or release.CLASS_LABELS_URL,
                ontology_url=settings.audioset_ontology_url or release.ONTOLOGY_URL,
                splits=tuple(splits),
                progress=progress,
            )
    assert source is not None
    async with engine_for(settings) as engine:
        with bars() as progress:
            report = await engine.ingest(source, meta, progress)
        total = (await engine.stats()).tracks
    print(
        f"ingested {report.files - report.files_skipped} files "
        f"({report.files_skipped} already in): {report.clips_added} music clips added, "
        f"{report.non_music} non-music clips left out; catalog now {total} clips"
    )
    for name, problems in report.problems.items():
        for problem in problems:
            print(f"problem: {name}: {problem}", file=sys.stderr)
    if report.problems:
        print(
            f"{len(report.problems)} files had unreadable records (skipped, listed above)",
            file=sys.stderr,
        )
    print("next: python -m recommender reindex")
    return 0


async def cmd_add(args: argparse.Namespace, settings: Settings) -> int:
    """Add songs the server chose to the catalog. Each SOURCE is a folder of audio files
    (mp3, flac, ogg, opus, m4a, aac, wav; read recursively, named by their tags), a
    Subsonic server's address (Navidrome, Gonic, Airsonic...: its whole library, or
    --playlist or --album; sign in with SUBSONIC_USER and SUBSONIC_PASSWORD), or a Deezer
    playlist or album or an Apple Music album (each song found on YouTube Music by its
    artist and title, and heard from there at ADD_YOUTUBE_PACE_SECONDS). Each song is
    heard as a member's song is, and refused for the same reasons; the same recording
    named twice is added once. Then each new song's YouTube video is looked for. Safe to
    stop and run again: what was added stays, and the next run goes on. The new songs are
    suggested after the next reindex."""
    kinds = {source: source_kind(source) for source in args.sources}
    if (args.playlist or args.album) and "subsonic" not in kinds.values():
        print("--playlist and --album pick a list on a Subsonic server", file=sys.stderr)
        return 2
    reports: list[AddReport] = []
    async with engine_for(settings) as engine:
        for source, kind in kinds.items():
            with bars() as progress:
                if kind == "folder":
                    report = await engine.adder.folder(Path(source), progress)
                elif kind == "site":
                    report = await engine.adder.music_list(source, progress)
                else:
                    report = await engine.adder.subsonic(
                        source, playlist=args.playlist, album=args.album, progress=progress
                    )
            reports.append(report)
            _print_added(source, report, args.show)
            if report.stopped:
                break
        if not args.no_links and not any(r.stopped for r in reports):
            await _find_links(engine, None)
        stats = await engine.stats()
    print(f"catalog now: {stats.catalog_in_words}")
    if any(r.added for r in reports):
        print("next: python -m recommender reindex (the new songs are suggested after it)")
    return 1 if any(r.stopped for r in reports) else 0


async def cmd_links(args: argparse.Namespace, settings: Settings) -> int:
    """Find a YouTube video for each library song that has none yet, by its artist and
    title (the rules a song named in words is found by), at ADD_YOUTUBE_PACE_SECONDS
    between searches; a song with none links to a YouTube Music search and is looked for
    again after 30 days. Resumable: stop it at any time and run it again."""
    async with engine_for(settings) as engine:
        return 0 if await _find_links(engine, args.limit) else 1


async def _find_links(engine: Engine, limit: int | None) -> bool:
    with bars() as progress:
        report = await engine.adder.links.sweep(progress, limit)
    print(
        f"links: {report.found:,} videos found, {report.none:,} songs with none "
        f"(they link to a YouTube Music search), {report.left:,} not looked for yet"
    )
    if report.stopped:
        print(f"links stopped early: {report.stopped}", file=sys.stderr)
        print("run `python -m recommender links` later to go on", file=sys.stderr)
    return not report.stopped


def _print_added(source: str, report: AddReport, show: int) -> None:
    print(
        f"{source}: {report.found:,} songs found, {report.added:,} added, "
        f"{report.already:,} already there, {report.refused_count:,} refused"
    )
    for reason, names in sorted(report.refused.items(), key=lambda kv: -len(kv[1])):
        more = len(names) - show
        listed = ", ".join(names[:show]) + (f" and {more:,} more" if more > 0 else "")
        print(f"  refused ({len(names):,}): {reason}\n    {listed}")
    if report.stopped:
        print(f"stopped early: {report.stopped}", file=sys.stderr)
        print("what was added stays; run the same command again to go on", file=sys.stderr)


async def cmd_reindex(args: argparse.Namespace, settings: Settings) -> int:
    """Train the tagger on the catalog, build a new Annoy index beside the live one, and swap
    it in atomically."""
    async with engine_for(settings) as engine:
        with bars() as progress:
            built = await engine.reindex(progress)
    print(f"index built: {_layout(built)}, {built.total_s}s, vector version {built.vector_version}")
    return 0


def _layout(info: IndexInfo) -> str:
    return (
        f"{info.count} items in {info.chunks} chunks ({info.shared_groups} tag groups, "
        f"{info.annoy_groups} of them searched with Annoy ({info.trees} trees), "
        f"{info.clustered_rows} items clustered)"
    )


async def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    async with engine_for(settings) as engine:
        stats = await engine.stats()
    if args.json:
        print(json.dumps(dataclasses.asdict(stats), indent=2))
        return 0
    print(f"catalog:           {stats.catalog_in_words}")
    print(f"indexed items:     {stats.indexed}")
    print(f"cached embeddings: {stats.cached_embeddings}")
    print(f"ratings:           {stats.ratings}")
    if stats.index:
        age_h = (time.time() - stats.index.built_at) / 3600
        print(
            f"index:             {_layout(stats.index)}, "
            f"built {age_h:.1f} h ago, vector version {stats.index.vector_version}"
        )
    else:
        print("index:             none (run: python -m recommender reindex)")
    return 0


async def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    """Ask YouTube's oEmbed about every catalog video never checked, or checked longer ago than
    VIDEO_FACTS_TTL_DAYS, at VERIFY_RATE requests a second. Videos that are gone or
    restricted are never suggested. Resumable: stop it at any time and run it again,
    also in the background."""
    async with engine_for(settings) as engine:
        with bars() as progress:
            found = await engine.facts.sweep(
                lambda done, total: progress("verify", done, total), args.limit
            )
        videos = (await engine.stats(videos=True)).videos
    report = {"this_run": found, "catalog_videos": videos}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    checked = sum(found.values())
    print(
        f"checked {checked} videos: {found['live']} play, {found['restricted']} restricted "
        f"(private or not embeddable), {found['gone']} gone, {found['no answer']} no answer"
    )
    print(
        f"catalog videos: {videos['live']} play, {videos['restricted']} restricted, "
        f"{videos['gone']} gone, {videos['unchecked']} not checked yet"
        + (" (run verify again to go on)" if videos["unchecked"] else "")
    )
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = command(sub, cmd_ingest, "store AudioSet's music clips in the catalog")
    folder_option(
        p, "--audioset", "an AudioSet folder (release folder, audioset_v1_embeddings, or a split)"
    )
    folder_option(
        p,
        "--meta",
        "folder with class_labels_indices.csv and ontology.json "
        "(default: found at or above --audioset)",
    )
    p.add_argument(
        "--download",
        action="store_true",
        help="fetch the official release first (about 2.4 GB; resumable) into "
        "--audioset or DATA_DIR/audioset",
    )
    p.add_argument(
        "--splits",
        nargs="+",
        default=list(SPLITS),
        choices=list(SPLITS),
        help="with --download: which splits to extract",
    )

    p = command(
        sub, cmd_add, "add songs the server chose (a folder, a Subsonic server) to the catalog"
    )
    p.add_argument("sources", nargs="+", metavar="SOURCE", help=ACCEPTED)
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--playlist", metavar="NAME", help="a Subsonic server's playlist (name or id)"
    )
    which.add_argument("--album", metavar="NAME", help="a Subsonic server's album (name or id)")
    p.add_argument(
        "--show", type=int, default=10, metavar="N",
        help="name at most N refused songs per reason (default 10)",
    )  # fmt: skip
    p.add_argument(
        "--no-links", action="store_true",
        help="do not look for each new song's YouTube video now (`links` does it later)",
    )  # fmt: skip

    p = command(sub, cmd_links, "find a YouTube video for each library song that has none")
    p.add_argument("--limit", type=int, metavar="N", help="look for at most N songs this run")

    p = command(sub, cmd_reindex, "rebuild the search index and swap it in")

    p = command(
        sub, cmd_verify, "check which catalog videos still play on YouTube, and learn their titles"
    )
    p.add_argument("--limit", type=int, metavar="N", help="check at most N videos this run")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command(sub, cmd_stats, "counts and index metadata")
    p.add_argument("--json", action="store_true", help="print JSON")
