"""Reactions on earshot's replies become ratings (raw events: uncached messages count too),
and reactions made while the bot was offline are read back when it returns."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from .utils.reactions import REACTION_KEYS

if TYPE_CHECKING:
    from bot.bot import Earshot

log = logging.getLogger(__name__)


class Feedback(commands.Cog):
    def __init__(self, bot: Earshot) -> None:
        self.bot = bot
        self._catching_up: asyncio.Task[None] | None = None

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

    # --- catching up after time offline -----------------------------------------------

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        days = self.bot.settings.engine.reconcile_days
        if self._catching_up is None and days > 0:  # once per start, not per reconnect
            self._catching_up = self.bot.in_background(self.catch_up(days), "catch-up")

    async def cog_unload(self) -> None:
        if self._catching_up is not None:
            self._catching_up.cancel()

    async def catch_up(self, days: float) -> None:
        """Read the reactions on the replies of the last ``days`` days back from Discord
        (its REST API, whose rate limits discord.py keeps), and store exactly them."""
        started = time.monotonic()
        replies = [
            (message, channel)
            for message, channel, guild in await self.bot.engine.recent_replies(days)
            if self._ours(guild)
        ]
        changed: set[int] = set()
        read = 0
        for message_id, channel_id in replies:
            if self.bot.is_closed():  # stopping: what is caught up stays, the rest waits
                break
            try:
                by_user = await self._reactions_on(channel_id, message_id)
            except discord.NotFound:
                continue  # deleted since: its ratings stay as they were
            except discord.HTTPException as exc:
                log.info("could not read reactions on %s: %s", message_id, exc)
                continue
            read += 1
            changed |= await self.bot.engine.reconcile_reactions(message_id, by_user)
        log.info(
            "caught up with reactions on %d of %d replies from the last %g days in %.1f s: "
            "the ratings of %d member%s changed while earshot was away",
            read,
            len(replies),
            days,
            time.monotonic() - started,
            len(changed),
            "" if len(changed) == 1 else "s",
        )

    def _ours(self, guild_id: int | None) -> bool:
        """Whether this process runs the shard of that server (with SHARD_IDS, several
        processes share the bot, and each catches up on its own servers)."""
        if guild_id is None or not self.bot.shard_ids or not self.bot.shard_count:
            return True
        return (guild_id >> 22) % self.bot.shard_count in self.bot.shard_ids

    async def _reactions_on(self, channel_id: int, message_id: int) -> dict[int, set[str]]:
        message = await self.bot.get_partial_messageable(channel_id).fetch_message(message_id)
        by_user: dict[int, set[str]] = {}
        for reaction in message.reactions:
            key = REACTION_KEYS.get(str(reaction.emoji))
            if key is None or reaction.count <= (1 if reaction.me else 0):
                continue  # not a rating emoji, or only earshot's own
            async for user in reaction.users(limit=None):
                if not user.bot:
                    by_user.setdefault(user.id, set()).add(key)
        return by_user


async def setup(bot: Earshot) -> None:
    await bot.add_cog(Feedback(bot))
