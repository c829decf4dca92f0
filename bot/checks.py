"""Checks the cogs put on commands: owner-only, and the error it raises, which the bot's
one error handler answers."""

from __future__ import annotations

import discord
from discord import app_commands


class NotOwnerError(app_commands.CheckFailure):
    """Raised by owner-only commands for anyone else."""


async def owner_only(interaction: discord.Interaction) -> bool:
    """The bot's owners: the application's owner or team, and BOT_ADMINS."""
    if await interaction.client.is_owner(interaction.user):  # type: ignore[attr-defined]
        return True
    raise NotOwnerError()
