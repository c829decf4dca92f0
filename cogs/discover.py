"""/discover: music by a described sound (a genre, an instrument, a mood), alone or
steered from a song; answered and rated as /recommend's replies are."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.responses import think_privately
from recommender.results import MAX_SUGGESTIONS
from recommender.sources.naming import parse_song

from .utils.answers import post_suggestions
from .utils.cooldown import Cooldowns

if TYPE_CHECKING:
    from bot.bot import Earshot


class Discover(commands.Cog):
    def __init__(self, bot: Earshot) -> None:
        self.bot = bot
        # The same wait as /recommend's: the engine keeps one clock per member.
        self.cooldowns = Cooldowns(bot.engine, bot.settings.cooldown_s)

    @app_commands.command(
        name="discover", description="Find music by how it sounds: genre, instrument, mood"
    )
    @app_commands.describe(
        genre="A genre, as you type: rock, jazz, hip hop, ambient…",
        instrument="An instrument, as you type: piano, saxophone, synth…",
        mood="A mood: happy, sad, tender, exciting, angry, scary, funny",
        like="A song to start from (a link or its name), steered toward the rest",
        count=f"How many suggestions, 1 to {MAX_SUGGESTIONS} (default 5)",
    )
    async def discover(
        self,
        interaction: discord.Interaction,
        genre: app_commands.Range[str, 1, 100] | None = None,
        instrument: app_commands.Range[str, 1, 100] | None = None,
        mood: app_commands.Range[str, 1, 100] | None = None,
        like: app_commands.Range[str, 1, 500] | None = None,
        count: app_commands.Range[int, 1, MAX_SUGGESTIONS] = 5,
    ) -> None:
        # What needs no network is refused before thinking: private from the first moment.
        self.bot.engine.vocabulary.read(genre=genre, instrument=instrument, mood=mood)
        if like:
            parse_song(like)
        await self.cooldowns.check(interaction.user.id)
        await think_privately(interaction, self.bot.lost_answers)
        result = await self.cooldowns.costing(
            interaction.user.id,
            self.bot.engine.discover(
                genre=genre,
                instrument=instrument,
                mood=mood,
                like=like,
                count=count,
                member=interaction.user.id,
                guild=interaction.guild_id,
            ),
        )
        await post_suggestions(self.bot, interaction, result)

    async def _complete(self, kind: str, current: str) -> list[app_commands.Choice[str]]:
        names = await self.bot.engine.complete_label(kind, current)
        return [app_commands.Choice(name=name, value=name) for name in names]

    @discover.autocomplete("genre")
    async def genre_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._complete("genre", current)

    @discover.autocomplete("instrument")
    async def instrument_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._complete("instrument", current)

    @discover.autocomplete("mood")
    async def mood_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._complete("mood", current)


async def setup(bot: Earshot) -> None:
    await bot.add_cog(Discover(bot))
