"""A member's wait between two answered requests, shared by /recommend and the menu."""

from __future__ import annotations

import time

from discord import app_commands


class Cooldowns:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._answered_at: dict[int, float] = {}

    def check(self, user_id: int) -> None:
        """Raise CommandOnCooldown (answered privately by the bot) if it is too soon."""
        if self.seconds <= 0:
            return
        last = self._answered_at.get(user_id)
        if last is None:
            return
        left = self.seconds - (time.monotonic() - last)
        if left > 0:
            raise app_commands.CommandOnCooldown(
                app_commands.Cooldown(1, self.seconds), retry_after=left
            )

    def start(self, user_id: int) -> None:
        now = time.monotonic()
        self._answered_at[user_id] = now
        if len(self._answered_at) > 10_000:  # forget members whose wait is long over
            cutoff = now - self.seconds
            self._answered_at = {u: t for u, t in self._answered_at.items() if t > cutoff}
