"""The operator CLI: ``python -m recommender COMMAND --help``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from dotenv import load_dotenv

from ...config import ConfigError, Settings
from ...disk import describe_free, is_disk_full, path_of
from ...errors import DatabaseDamagedError, DiskFullError, EarshotError
from . import catalog, deployment, quality, songs


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m recommender",
        description="earshot's operator commands. Settings come from the environment "
        "(and .env); see .env.example.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for group in (catalog, songs, quality, deployment):
        group.add_commands(sub)
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
        from ...catalog.db import is_damaged

        if is_disk_full(exc):
            return _out_of_space(describe_free(path_of(exc) or Settings.from_env().data_dir))
        if not is_damaged(exc):
            raise
        damaged = DatabaseDamagedError(Settings.from_env().database_path, getattr(exc, "orig", exc))
        print(f"error: {damaged}\nto fix: {damaged.operator_hint}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
