"""Checks the cogs put on commands: owner-only, and the error it raises, which the bot's
one error handler answers; and where the owners' commands are registered."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

if TYPE_CHECKING:
    from .bot import Earshot


class NotOwnerError(app_commands.CheckFailure):
    """Raised by owner-only commands for anyone else."""


async def owner_only(interaction: discord.Interaction) -> bool:
    """The bot's owners: the application's owner or team, and BOT_ADMINS."""
    if await interaction.client.is_owner(interaction.user):  # type: ignore[attr-defined]
        return True
    raise NotOwnerError()


async def add_owner_cog(bot: Earshot, cog: commands.Cog) -> None:
    """With a home server, the owner commands live there alone, shown to everyone in it
    (only owners may run them); members elsewhere never see them. Without one, they are
    global and shown to server administrators."""
    if bot.home_guild_id is None:
        await bot.add_cog(cog)
        return
    for command in cog.__cog_app_commands__:
        command.default_permissions = None
    await bot.add_cog(cog, guild=discord.Object(bot.home_guild_id))
