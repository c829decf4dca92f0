"""Reactions on earshot's replies become ratings (raw events: uncached messages count too)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from .recommend import REACTION_KEYS

if TYPE_CHECKING:
    from bot.bot import Earshot

log = logging.getLogger(__name__)


class Feedback(commands.Cog):
    def __init__(self, bot: Earshot) -> None:
        self.bot = bot

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        await self._record(payload, present=True)

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        await self._record(payload, present=False)

    async def _record(self, payload: discord.RawReactionActionEvent, present: bool) -> None:
        if self.bot.user is None or payload.user_id == self.bot.user.id:
            return
        if payload.member is not None and payload.member.bot:
            return
        reaction = REACTION_KEYS.get(str(payload.emoji))
        if reaction is None:
            return
        try:
            stored = await self.bot.engine.react(
                payload.user_id, payload.message_id, reaction, present
            )
        except Exception:
            log.exception("could not store a reaction on %s", payload.message_id)
            return
        if stored:
            log.debug(
                "rating: user %s %s %s on %s",
                payload.user_id,
                "added" if present else "removed",
                reaction,
                payload.message_id,
            )


async def setup(bot: Earshot) -> None:
    await bot.add_cog(Feedback(bot))
