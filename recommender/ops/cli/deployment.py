"""A deployment: setup, prepare, doctor, migrate-to-postgres, and the queue's worker."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

from ...config import Settings
from .catalog import cmd_reindex, ingest_from
from .common import SPLITS, bars, command, engine_for


async def cmd_setup(args: argparse.Namespace, settings: Settings) -> int:
    """Fetch the VGGish model (VGGISH_MODEL) and its PCA parameters (VGGISH_PCA_PARAMS) so the
    first request is not slow, and check that the model loads and embeds a second of
    silence."""
    from ...listening.embedder import configure_hub_cache, fetch_model

    async with engine_for(settings) as engine:
        pca = await engine.listener.ensure_pca_params()
        print(f"PCA parameters: {pca.resolve()}")
        configure_hub_cache(settings.data_dir)
        handle, model_dir = await asyncio.to_thread(fetch_model, settings.vggish_model)
        print(f"VGGish model:   {handle} -> {model_dir}")
        version = await engine.listener.warm_up()
        print(f"model loads and runs in a worker: version {version}")
    (settings.data_dir / SETUP_MARKER).write_text(settings.vggish_model + "\n")
    return 0


SETUP_MARKER = ".setup-done"


async def cmd_prepare(args: argparse.Namespace, settings: Settings) -> int:
    """What a fresh deployment needs before `python -m bot`: the model and PCA parameters
    (setup), the catalog (from AUDIOSET_DIR, or the official download) and the index. Each
    step is skipped when already done."""
    marker = settings.data_dir / SETUP_MARKER
    if marker.exists() and marker.read_text().strip() == settings.vggish_model:
        print("model and PCA parameters: already fetched")
    else:
        print("step 1/3: fetching the VGGish model and PCA parameters")
        await cmd_setup(args, settings)
    async with engine_for(settings) as engine:
        stats = await engine.stats()
    catalog, has_index = stats.catalog_clips, stats.index is not None
    if catalog:
        print(f"catalog: already {catalog} clips")
    else:
        source = settings.audioset_dir
        print(
            "step 2/3: building the catalog from "
            + (str(source) if source else "the official AudioSet release (about 2.4 GB)")
        )
        await ingest_from(settings, source, None, source is None, list(SPLITS))
        has_index = False
    if has_index:
        print("index: already built")
    else:
        print("step 3/3: building the index")
        await cmd_reindex(args, settings)
    return 0


async def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    """Check the JS runtime and solver yt-dlp sees, ffmpeg, the model (loaded and run on a
    second of audio), the PCA parameters, the data folder, the catalog and the index,
    plus the checks other installed parts add (the bot: its token's shape and invite
    link). Exits 1 if any check fails."""
    from ...ops.doctor import as_json, run_checks, table

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


async def cmd_migrate_to_postgres(args: argparse.Namespace, settings: Settings) -> int:
    """Copy every table of the SQLite database (DATA_DIR/earshot.sqlite3, or --from) into an
    empty PostgreSQL database (--to, or DATABASE_URL), in one transaction, then compare
    row counts and checksums of every table on both sides. A copy that fails or differs
    leaves PostgreSQL as it was; the SQLite file is only read. Stop the bot first, or
    writes made meanwhile stay in SQLite only."""
    from ...catalog.migrate import (
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


async def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """A listening worker for earshot past one machine: takes 'listen to this video' jobs that
    bot processes put on QUEUE_URL, up to MAX_CONCURRENT_REQUESTS at a time, and writes
    the shared embedding cache. Run as many as you have cores to spare, on any host that
    reaches Redis and the database. SIGTERM puts running jobs back."""
    from ...listening.queue_worker import serve

    await serve(settings)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = command(sub, cmd_setup, "fetch the VGGish model and PCA parameters ahead of time")

    p = command(
        sub,
        cmd_prepare,
        "fetch the model, build the catalog and the index: whatever is not done yet",
    )

    p = command(
        sub,
        cmd_migrate_to_postgres,
        "copy the SQLite database into an empty PostgreSQL database, and verify it",
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

    p = command(sub, cmd_doctor, "check everything a real deployment needs, and print a table")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command(
        sub, cmd_worker, "take listening jobs from the Redis queue (QUEUE_URL) until stopped"
    )
