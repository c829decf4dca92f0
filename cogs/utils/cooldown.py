"""A member's wait between two answered requests, shared by /recommend and the menu.

The engine keeps the clock (in Redis when earshot runs past one machine, so every bot
process agrees); this turns it into discord.py's cooldown error, answered privately.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, TypeVar

from discord import app_commands

from recommender.errors import EarshotError

if TYPE_CHECKING:
    from recommender.engine import Engine


T = TypeVar("T")


class Cooldowns:
    def __init__(self, engine: Engine, seconds: float) -> None:
        self.engine = engine
        self.seconds = seconds

    async def check(self, user_id: int) -> None:
        """Raise CommandOnCooldown (answered privately by the bot) if it is too soon."""
        if self.seconds <= 0:
            return
        left = await self.engine.cooldown_left(user_id)
        if left > 0:
            raise app_commands.CommandOnCooldown(
                app_commands.Cooldown(1, self.seconds), retry_after=left
            )

    async def start(self, user_id: int) -> None:
        await self.engine.start_cooldown(user_id, self.seconds)

    async def costing(self, user_id: int, asked: Awaitable[T]) -> T:
        """The answer; an answered request starts the member's wait, a refusal does not
        (unless it held a listener to the time limit)."""
        try:
            result = await asked
        except EarshotError as exc:
            if exc.costs_cooldown:
                await self.start(user_id)
            raise
        await self.start(user_id)
        return result
