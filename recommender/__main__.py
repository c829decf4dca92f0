"""The operator CLI: ``python -m recommender COMMAND --help``."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dotenv import load_dotenv
from tqdm import tqdm

from .config import ConfigError, Settings
from .disk import describe_free, is_disk_full, path_of
from .errors import DatabaseDamagedError, DiskFullError, EarshotError
from .results import IndexInfo

SPLITS = ("bal_train", "eval", "unbal_train")

log = logging.getLogger("recommender")


class Bars:
    """One tqdm bar per stage name; the engine reports (stage, done, total)."""

    def __init__(self) -> None:
        self.bars: dict[str, tqdm] = {}

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        bar = self.bars.get(stage)
        if bar is None:
            bar = self.bars[stage] = tqdm(
                total=total or None,
                desc=stage,
                unit="",
                dynamic_ncols=True,
                disable=None,
                leave=True,
            )
        if total and bar.total != total:
            bar.total = total
        bar.n = done
        bar.refresh()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


@contextmanager
def bars() -> Iterator[Bars]:
    b = Bars()
    try:
        yield b
    finally:
        b.close()


async def _engine(settings: Settings):
    from .engine import Engine

    return await Engine.open(settings)


async def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    if not args.download and not args.audioset:
        print("ingest needs --audioset DIR or --download", file=sys.stderr)
        return 2
    return await _ingest(settings, args.audioset, args.meta, args.download, args.splits)


async def _ingest(
    settings: Settings,
    audioset: Path | None,
    meta: Path | None,
    download: bool,
    splits: list[str],
) -> int:
    from .audioset import download as release

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
    engine = await _engine(settings)
    try:
        with bars() as progress:
            report = await engine.ingest(source, meta, progress)
        total = (await engine.stats()).tracks
    finally:
        await engine.close()
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


async def cmd_reindex(args: argparse.Namespace, settings: Settings) -> int:
    engine = await _engine(settings)
    try:
        with bars() as progress:
            built = await engine.reindex(progress)
    finally:
        await engine.close()
    print(f"index built: {_layout(built)}, {built.total_s}s, vector version {built.vector_version}")
    return 0


def _layout(info: IndexInfo) -> str:
    return (
        f"{info.count} items in {info.chunks} chunks ({info.shared_groups} tag groups, "
        f"{info.annoy_groups} of them searched with Annoy ({info.trees} trees), "
        f"{info.clustered_rows} items clustered)"
    )


async def cmd_recommend(args: argparse.Namespace, settings: Settings) -> int:
    if (args.video is None) == (args.file is None):
        print("recommend needs a VIDEO (link or id) or --file PATH, not both", file=sys.stderr)
        return 2
    engine = await _engine(settings)
    try:
        if args.file is not None:
            result = await engine.recommend_file(args.file, args.count)
        else:
            result = await engine.recommend(args.video, args.count)
    finally:
        await engine.close()
    if args.json:
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


async def cmd_setup(args: argparse.Namespace, settings: Settings) -> int:
    from .listening.embedder import configure_hub_cache, fetch_model

    engine = await _engine(settings)
    try:
        pca = await engine.listener.ensure_pca_params()
        print(f"PCA parameters: {pca.resolve()}")
        configure_hub_cache(settings.data_dir)
        handle, model_dir = await asyncio.to_thread(fetch_model, settings.vggish_model)
        print(f"VGGish model:   {handle} -> {model_dir}")
        version = await engine.listener.warm_up()
        print(f"model loads and runs in a worker: version {version}")
    finally:
        await engine.close()
    (settings.data_dir / SETUP_MARKER).write_text(settings.vggish_model + "\n")
    return 0


SETUP_MARKER = ".setup-done"


async def cmd_prepare(args: argparse.Namespace, settings: Settings) -> int:
    """Everything a fresh deployment needs before the bot starts; done steps are skipped."""
    marker = settings.data_dir / SETUP_MARKER
    if marker.exists() and marker.read_text().strip() == settings.vggish_model:
        print("model and PCA parameters: already fetched")
    else:
        print("step 1/3: fetching the VGGish model and PCA parameters")
        await cmd_setup(args, settings)
    engine = await _engine(settings)
    try:
        stats = await engine.stats()
    finally:
        await engine.close()
    catalog, has_index = stats.catalog_clips, stats.index is not None
    if catalog:
        print(f"catalog: already {catalog} clips")
    else:
        source = settings.audioset_dir
        print(
            "step 2/3: building the catalog from "
            + (str(source) if source else "the official AudioSet release (about 2.4 GB)")
        )
        await _ingest(settings, source, None, source is None, list(SPLITS))
        has_index = False
    if has_index:
        print("index: already built")
    else:
        print("step 3/3: building the index")
        await cmd_reindex(args, settings)
    return 0


async def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    engine = await _engine(settings)
    try:
        stats = await engine.stats()
    finally:
        await engine.close()
    if args.json:
        print(json.dumps(dataclasses.asdict(stats), indent=2))
        return 0
    print(f"tracks:            {stats.tracks} ({stats.member_tracks} asked about by members)")
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
    engine = await _engine(settings)
    try:
        with bars() as progress:
            found = await engine.facts.sweep(
                lambda done, total: progress("verify", done, total), args.limit
            )
        videos = (await engine.stats(videos=True)).videos
    finally:
        await engine.close()
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


async def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from .listening.queue_worker import serve

    await serve(settings)
    return 0


async def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    from .ops.doctor import as_json, run_checks, table

    started = time.perf_counter()
    checks = await run_checks(settings, os.environ)
    report = as_json(checks, time.perf_counter() - started)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(table(checks))
        if report["failed"]:
            print(f"failed: {', '.join(report['failed'])}")
        else:
            print(f"all checks passed in {report['seconds']} s")
    return 0 if report["ok"] else 1


def _print_feedback(f: dict) -> None:
    def cell(figure: dict) -> str:
        return f"{figure['mean']:.3f}±{figure['se']:.3f}"

    print(
        f"feedback: {f['members_per_kind']} members of each kind, {f['seeds']} seeds, "
        "P@10 for the member's labels (mean±standard error over seeds)"
    )
    header = " ".join(f"round {r:<6}" for r in range(1, f["rounds"] + 1))
    print(f"  {'kind':15} {'no ratings':12} {header}  ratio  own labels plain -> rated")
    for name, k in f["kinds"].items():
        rounds = " ".join(f"{cell(r):12}" for r in k["round_p_at_10"])
        print(
            f"  {name:15} {cell(k['no_feedback_p_at_10']):12} {rounds} "
            f"{k['ratio_last_round']:5.2f}x {cell(k['own_labels_plain'])} -> "
            f"{cell(k['own_labels_rated'])} ({100 * k['own_labels_relative_loss']:+.1f}% loss)"
        )
    c = f["community"]
    print(
        f"  community: a new member's P@10 for their server's label "
        f"{c['newcomer_p_at_10_for_server_label']:.3f} against "
        f"{c['plain_p_at_10_for_server_label']:.3f} plain ({c['lean']:.2f}x); "
        f"another server's newcomer {c['other_server_p_at_10_for_that_label']:.3f}; "
        f"a server without ratings gives the plain ranking: "
        f"{c['server_without_ratings_identical']}"
    )


async def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from .audioset.ontology import Ontology, find_metadata_dir
    from .quality.evaluate import evaluate, load_split

    meta = args.meta or find_metadata_dir(args.train)
    if meta is None:
        print(
            "evaluate needs --meta DIR (class_labels_indices.csv, ontology.json)", file=sys.stderr
        )
        return 2
    ontology = Ontology.load(meta)
    split = load_split(args.train, args.test, ontology, args.holdout, args.swap)
    report = await asyncio.to_thread(
        evaluate,
        split,
        ontology,
        trees=args.trees,
        overfetch=args.overfetch,
        tagger_steps=settings.tagger_steps,
        feedback=args.feedback,
        feedback_seeds=args.seeds,
        feedback_rounds=args.rounds,
        feedback_members=args.members,
        progress=lambda msg: log.info("%s", msg),
    )
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(
        f"catalog {report['catalog']} music clips, {report['queries']} queries, "
        f"train {report['train']} music clips"
    )
    for name in ("seed", "earshot"):
        m = report["methods"][name]
        print(
            f"{name:8} P@10 {m['p_at_10']:.3f}  genre {m['genre_p_at_10']:.3f}  "
            f"instrument {m['instrument_p_at_10']:.3f}"
        )
    if "feedback" in report:
        _print_feedback(report["feedback"])
    print(
        f"earshot / seed: {report['ratio_vs_seed']:.2f}x; "
        f"Annoy recall@10 {report['annoy_recall_at_10']:.3f}"
    )
    return 0


async def cmd_migrate_to_postgres(args: argparse.Namespace, settings: Settings) -> int:
    from .catalog.migrate import (
        MigrationRefused,
        VerificationFailed,
        checks_table,
        copy_to_postgres,
        verify,
    )

    target = args.to or settings.database_url
    if not target:
        print("migrate-to-postgres needs --to URL or DATABASE_URL", file=sys.stderr)
        return 2
    source = args.source or settings.database_path
    try:
        if args.verify:
            checks = await verify(source, target)
        else:
            with bars() as progress:
                checks = await copy_to_postgres(
                    source, target, replace=args.replace, progress=progress
                )
    except MigrationRefused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    except VerificationFailed as exc:
        print(checks_table(exc.checks))
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(checks_table(checks))
    bad = [c.table for c in checks if not c.ok]
    if bad:
        print(f"error: verification failed: {', '.join(bad)} differ", file=sys.stderr)
        return 1
    rows = sum(c.target_rows for c in checks)
    print(
        f"verified: {len(checks)} tables, {rows} rows identical in SQLite ({source}) and "
        "PostgreSQL" + ("" if args.verify else "; set DATABASE_URL to use it")
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m recommender",
        description="earshot's operator commands. Settings come from the environment "
        "(and .env); see .env.example.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "ingest",
        help="store AudioSet's music clips in the catalog",
        description="Store the music clips of AudioSet .tfrecord files in the "
        "catalog. Safe to rerun or resume: files already in are skipped.",
    )
    p.add_argument(
        "--audioset",
        type=Path,
        metavar="DIR",
        help="an AudioSet folder (release folder, audioset_v1_embeddings, or a split)",
    )
    p.add_argument(
        "--meta",
        type=Path,
        metavar="DIR",
        help="folder with class_labels_indices.csv and ontology.json "
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
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser(
        "reindex",
        help="rebuild the search index and swap it in",
        description="Train the tagger on the catalog, build a new Annoy index "
        "beside the live one, and swap it in atomically.",
    )
    p.set_defaults(func=cmd_reindex)

    p = sub.add_parser(
        "recommend",
        help="print the clips that sound most like a video",
        description="Print the clips most similar to a YouTube video (a link or an "
        "11-character id) or a local audio file. A video that is not in the catalog is "
        "fetched, listened to and cached.",
    )
    p.add_argument(
        "video",
        nargs="?",
        help="YouTube link or video id (put -- before an id that starts with -)",
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
    p.set_defaults(func=cmd_recommend)

    p = sub.add_parser(
        "evaluate",
        help="measure recommendation quality on AudioSet labels",
        description="P@10 on AudioSet's specific music labels, earshot against "
        "the original method, and Annoy's recall against exact search.",
    )
    p.add_argument(
        "--train",
        type=Path,
        required=True,
        metavar="DIR",
        help="folder of .tfrecord files to fit on",
    )
    p.add_argument(
        "--test",
        type=Path,
        required=True,
        metavar="DIR",
        help="folder of .tfrecord files for catalog and queries",
    )
    p.add_argument(
        "--meta",
        type=Path,
        metavar="DIR",
        help="folder with class_labels_indices.csv and ontology.json",
    )
    p.add_argument(
        "--holdout",
        type=float,
        metavar="FRACTION",
        help="split by video id: this fraction of --test is test, the rest of "
        "--train is train (use with --train and --test the same folder)",
    )
    p.add_argument(
        "--swap",
        action="store_true",
        help="with --holdout: measure the other half (train and test swapped)",
    )
    p.add_argument(
        "--trees", type=int, default=10, help="Annoy trees per large tag group (default 10)"
    )
    p.add_argument(
        "--overfetch",
        type=int,
        default=20,
        help="candidates per result re-ranked exactly (default 20)",
    )
    p.add_argument(
        "--feedback",
        action="store_true",
        help="also simulate members who rate suggestions (four kinds: one favourite label, "
        "two or three, noisy, lurkers), and servers that share a taste",
    )
    for flag, default, what in (
        ("--seeds", 8, "seeds"),
        ("--rounds", 5, "rounds"),
        ("--members", 60, "members per kind"),
    ):
        p.add_argument(flag, type=int, default=default, help=f"with --feedback: {what}")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "setup",
        help="fetch the VGGish model and PCA parameters ahead of time",
        description="Fetch the VGGish model (VGGISH_MODEL) and its PCA "
        "parameters (VGGISH_PCA_PARAMS) so the first request is not slow, "
        "and check that the model loads and embeds a second of silence.",
    )
    p.set_defaults(func=cmd_setup)

    p = sub.add_parser(
        "prepare",
        help="fetch the model, build the catalog and the index: whatever is not done yet",
        description="What a fresh deployment needs before `python -m bot`: the model and "
        "PCA parameters (setup), the catalog (from AUDIOSET_DIR, or the official download) "
        "and the index. Each step is skipped when already done.",
    )
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser(
        "migrate-to-postgres",
        help="copy the SQLite database into an empty PostgreSQL database, and verify it",
        description="Copy every table of the SQLite database (DATA_DIR/earshot.sqlite3, or "
        "--from) into an empty PostgreSQL database (--to, or DATABASE_URL), in one "
        "transaction, then compare row counts and checksums of every table on both sides. "
        "A copy that fails or differs leaves PostgreSQL as it was; the SQLite file is only "
        "read. Stop the bot first, or writes made meanwhile stay in SQLite only.",
    )
    p.add_argument("--to", metavar="URL", help="postgresql://... (default: DATABASE_URL)")
    p.add_argument(
        "--from",
        dest="source",
        type=Path,
        metavar="PATH",
        help="the SQLite file (default: DATA_DIR/earshot.sqlite3)",
    )
    p.add_argument(
        "--replace",
        action="store_true",
        help="overwrite earshot data already in the target (refused without it)",
    )
    p.add_argument(
        "--verify",
        action="store_true",
        help="copy nothing: compare the two databases' counts and checksums",
    )
    p.set_defaults(func=cmd_migrate_to_postgres)

    p = sub.add_parser(
        "verify",
        help="check which catalog videos still play on YouTube, and learn their titles",
        description="Ask YouTube's oEmbed about every catalog video never checked, or checked "
        "longer ago than VIDEO_FACTS_TTL_DAYS, at VERIFY_RATE requests a second. Videos "
        "that are gone or restricted are never suggested. Resumable: stop it at any time "
        "and run it again, also in the background.",
    )
    p.add_argument("--limit", type=int, metavar="N", help="check at most N videos this run")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser(
        "doctor",
        help="check everything a real deployment needs, and print a table",
        description="Check the JS runtime and solver yt-dlp sees, ffmpeg, the model (loaded "
        "and run on a second of audio), the PCA parameters, the data folder, the catalog "
        "and the index, plus the checks other installed parts add (the bot: its token's "
        "shape and invite link). Exits 1 if any check fails.",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser(
        "worker",
        help="take listening jobs from the Redis queue (QUEUE_URL) until stopped",
        description="A listening worker for earshot past one machine: takes 'listen to this "
        "video' jobs that bot processes put on QUEUE_URL, up to MAX_CONCURRENT_REQUESTS at a "
        "time, and writes the shared embedding cache. Run as many as you have cores to spare, "
        "on any host that reaches Redis and the database. SIGTERM puts running jobs back.",
    )
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("stats", help="counts and index metadata")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_stats)
    return parser


def _out_of_space(where: str) -> int:
    print(
        f"error: out of disk space: {where} is full. Free some space there and run the "
        "command again; it picks up where it stopped.",
        file=sys.stderr,
    )
    return 1


def main(argv: list[str] | None = None) -> int:
    load_dotenv()
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        settings = Settings.from_env()
        return asyncio.run(args.func(args, settings))
    except DiskFullError as exc:
        return _out_of_space(exc.where)
    except (EarshotError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        if getattr(exc, "operator_hint", ""):
            print(f"to fix: {exc.operator_hint}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; rerun the command to continue where it stopped", file=sys.stderr)
        return 130
    except Exception as exc:  # damage or a full disk found mid-command
        from .catalog.db import is_damaged

        if is_disk_full(exc):
            return _out_of_space(describe_free(path_of(exc) or Settings.from_env().data_dir))
        if not is_damaged(exc):
            raise
        damaged = DatabaseDamagedError(Settings.from_env().database_path, getattr(exc, "orig", exc))
        print(f"error: {damaged}\nto fix: {damaged.operator_hint}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
