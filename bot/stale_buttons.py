"""Buttons earshot no longer knows: answered, privately, instead of "This interaction
failed".

Every component earshot sends has a custom id beginning ``earshot:`` and a handler that
survives restarts (``discord.ui.DynamicItem``). Any other id comes from a message sent
by an older version of the bot, whose buttons lived in memory only."""

from __future__ import annotations

import re

import discord


class StaleButton(discord.ui.DynamicItem[discord.ui.Button], template=r"(?!earshot:).*"):
    def __init__(self, custom_id: str) -> None:
        super().__init__(discord.ui.Button(label="…", custom_id=custom_id))

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> StaleButton:
        return cls(item.custom_id or "")

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            "That button is from an older earshot message and no longer works. Run the "
            "command again (for your ratings, /taste) to get one that does.",
            ephemeral=True,
        )
