"""What the commands share: progress bars, and opening the engine."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm import tqdm

from ...config import Settings

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


async def open_engine(settings: Settings):
    from ...engine import Engine

    return await Engine.open(settings)
