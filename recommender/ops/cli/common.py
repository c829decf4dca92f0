"""What the commands share: progress bars, the engine for one command, and declaring a
subcommand."""

from __future__ import annotations

import argparse
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from ...config import Settings

if TYPE_CHECKING:
    from ...engine import Engine

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


@asynccontextmanager
async def engine_for(settings: Settings) -> AsyncIterator[Engine]:
    """The engine, open for one command and closed however the command ends."""
    from ...engine import Engine

    engine = await Engine.open(settings)
    try:
        yield engine
    finally:
        await engine.close()


def command(
    sub: argparse._SubParsersAction,
    func: Callable[[argparse.Namespace, Settings], Awaitable[int]],
    help: str,
) -> argparse.ArgumentParser:
    """``func``'s subcommand, named after it (cmd_migrate_to_postgres: migrate-to-postgres),
    described by its docstring."""
    name = func.__name__.removeprefix("cmd_").replace("_", "-")
    parser = sub.add_parser(name, help=help, description=inspect.getdoc(func))
    parser.set_defaults(func=func)
    return parser


def folder_option(
    parser: argparse.ArgumentParser, flag: str, help: str, *, required: bool = False
) -> None:
    """An option that names a folder (of .tfrecord files, or AudioSet's metadata)."""
    parser.add_argument(flag, type=Path, metavar="DIR", required=required, help=help)
