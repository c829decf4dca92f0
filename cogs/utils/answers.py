"""Posting a reply's suggestions for the channel, numbered, recorded and with their rating
reactions: /recommend's, the menu's and /discover's alike."""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

import discord

from bot.responses import answer_publicly
from recommender.results import RecommendResult

from .reactions import DISLIKE_EMOJI, NUMBER_EMOJI
from .reply import PER_MESSAGE, pages, render

if TYPE_CHECKING:
    from bot.bot import Earshot

log = logging.getLogger(__name__)


async def post_suggestions(
    bot: Earshot, interaction: discord.Interaction, result: RecommendResult
) -> None:
    """The suggestions, posted publicly with their rating reactions (after
    ``think_privately``); each message is recorded as it appears."""
    embeds = [render(result, page) for page in range(1, pages(result) + 1)]

    async def posted(n: int, message: discord.Message) -> None:
        page = result.items[n * PER_MESSAGE : (n + 1) * PER_MESSAGE]
        await bot.engine.record_reply(
            message.id,
            interaction.guild_id,
            interaction.channel_id or message.channel.id,
            interaction.user.id,
            dataclasses.replace(result, items=page),
        )
        await add_reactions(message, len(page))

    await answer_publicly(interaction, embeds, "Here they come…", posted)


async def add_reactions(message: discord.Message, suggestions: int) -> None:
    for emoji in (*NUMBER_EMOJI[:suggestions], DISLIKE_EMOJI):
        try:
            await message.add_reaction(emoji)
        except discord.HTTPException as exc:  # e.g. no permission: ratings still work
            log.info("could not add %s to %s: %s", emoji, message.id, exc)
            break
