"""/recommend: a YouTube link in, an embed of similar-sounding songs out, with rating reactions."""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.responses import answer_publicly, think_privately
from recommender.errors import EarshotError
from recommender.sources.naming import find_song_link, parse_song
from recommender.sources.reference import ACCEPTED_SONGS, require_listened

from .utils.cooldown import Cooldowns
from .utils.reactions import DISLIKE_EMOJI, NUMBER_EMOJI
from .utils.reply import PER_MESSAGE, pages, render

if TYPE_CHECKING:
    from bot.bot import Earshot

log = logging.getLogger(__name__)


def _names_a_song(text: str) -> bool:
    try:
        parse_song(text)
    except EarshotError:
        return False
    return True


def link_in(message: discord.Message, bot_id: int | None) -> str | None:
    """The song a message is about: on earshot's own reply, the song it answered;
    otherwise the first link to a song earshot listens to in its text, then in its
    embeds (a YouTube video first)."""
    if bot_id is not None and message.author.id == bot_id:
        for embed in message.embeds:  # the song it answered, from wherever it came
            if embed.url and _names_a_song(embed.url):
                return embed.url
    texts = [message.content]
    for embed in message.embeds:
        texts += [embed.url or "", embed.title or "", embed.description or ""]
        texts += [field.value for field in embed.fields]
    for text in texts:
        link = find_song_link(text or "")
        if link:
            return link
    return None


class Recommend(commands.Cog):
    def __init__(self, bot: Earshot) -> None:
        self.bot = bot
        # One cooldown for /recommend and the menu; only an answered request starts it.
        self.cooldowns = Cooldowns(bot.engine, bot.settings.cooldown_s)
        # A context menu cannot be declared inside a cog; it is built and removed here.
        self.find_similar_menu = app_commands.ContextMenu(
            name="Find similar music", callback=self.find_similar
        )

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.find_similar_menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.find_similar_menu.name, type=self.find_similar_menu.type)

    @app_commands.command(name="recommend", description="Find music that sounds like a song")
    @app_commands.describe(
        song="A link to one song on YouTube, Spotify, Deezer or Apple Music, or a YouTube id",
        count="How many suggestions, 1 to 20 (default 5)",
    )
    async def recommend(
        self,
        interaction: discord.Interaction,
        song: app_commands.Range[str, 1, 500],
        count: app_commands.Range[int, 1, 20] = 5,
    ) -> None:
        await self.answer(interaction, song, count)

    async def find_similar(
        self, interaction: discord.Interaction, message: discord.Message
    ) -> None:
        """Apps > Find similar music: the same recommendation for the song a message is
        about."""
        link = link_in(message, self.bot.user.id if self.bot.user else None)
        if link is None:
            raise EarshotError(
                f"That message names no song earshot can listen to. Send {ACCEPTED_SONGS}."
            )
        await self.answer(interaction, link, 5)

    async def answer(self, interaction: discord.Interaction, song: str, count: int) -> None:
        """Check the link and the cooldown first (no network needed), then think privately
        while earshot listens: every refusal stays private from the first response. The
        suggestions are then posted publicly, with their rating reactions."""
        require_listened(parse_song(song))  # a refusal is private from the first response
        await self.cooldowns.check(interaction.user.id)
        await think_privately(interaction, self.bot.lost_answers)
        try:
            result = await self.bot.engine.recommend(
                song, count, member=interaction.user.id, guild=interaction.guild_id
            )
        except EarshotError as exc:
            if exc.costs_cooldown:  # it held a listener to the time limit: it costs the wait
                await self.cooldowns.start(interaction.user.id)
            raise
        await self.cooldowns.start(interaction.user.id)  # a refusal costs no wait
        embeds = [render(result, page) for page in range(1, pages(result) + 1)]

        async def posted(n: int, message: discord.Message) -> None:
            page = result.items[n * PER_MESSAGE : (n + 1) * PER_MESSAGE]
            await self.bot.engine.record_reply(
                message.id,
                interaction.guild_id,
                interaction.channel_id or message.channel.id,
                interaction.user.id,
                dataclasses.replace(result, items=page),
            )
            await self._add_reactions(message, len(page))

        await answer_publicly(interaction, embeds, "Here they come…", posted)

    @staticmethod
    async def _add_reactions(message: discord.Message, suggestions: int) -> None:
        for emoji in (*NUMBER_EMOJI[:suggestions], DISLIKE_EMOJI):
            try:
                await message.add_reaction(emoji)
            except discord.HTTPException as exc:  # e.g. no permission: ratings still work
                log.info("could not add %s to %s: %s", emoji, message.id, exc)
                break


async def setup(bot: Earshot) -> None:
    await bot.add_cog(Recommend(bot))
