"""A member's wait between two answered requests, shared by /recommend and the menu.

The engine keeps the clock (in Redis when earshot runs past one machine, so every bot
process agrees); this turns it into discord.py's cooldown error, answered privately.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from discord import app_commands

if TYPE_CHECKING:
    from recommender.engine import Engine


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
