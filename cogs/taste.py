"""/taste: what earshot thinks a member likes, and a way to make it forget."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

if TYPE_CHECKING:
    from bot.bot import Earshot


class ForgetView(discord.ui.View):
    def __init__(self, bot: Earshot, owner: int) -> None:
        super().__init__(timeout=300)
        self.bot = bot
        self.owner = owner

    @discord.ui.button(label="Forget my ratings", style=discord.ButtonStyle.danger)
    async def forget(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        if interaction.user.id != self.owner:
            await interaction.response.send_message("That button is not yours.", ephemeral=True)
            return
        removed = await self.bot.engine.forget_member(interaction.user.id)
        button.disabled = True
        await interaction.response.edit_message(
            content=f"Done: {removed} ratings deleted. Your suggestions are plain audio again.",
            embed=None,
            view=None,
        )


class Taste(commands.Cog):
    def __init__(self, bot: Earshot) -> None:
        self.bot = bot

    @app_commands.command(name="taste", description="What earshot has learned you like")
    async def taste(self, interaction: discord.Interaction) -> None:
        profile = await self.bot.engine.taste(interaction.user.id)
        embed = discord.Embed(
            title="Your taste, as earshot hears it", colour=discord.Colour.purple()
        )
        embed.add_field(name="Ratings", value=f"{profile.liked} liked, {profile.disliked} missed")
        embed.add_field(
            name="You like", value=", ".join(profile.top_tags) or "nothing yet", inline=False
        )
        if profile.avoided_tags:
            embed.add_field(name="You skip", value=", ".join(profile.avoided_tags), inline=False)
        embed.set_footer(text="Rate suggestions with reactions to teach earshot.")
        view = (
            ForgetView(self.bot, interaction.user.id) if profile.liked + profile.disliked else None
        )
        await interaction.response.send_message(
            embed=embed, view=view or discord.utils.MISSING, ephemeral=True
        )


async def setup(bot: Earshot) -> None:
    await bot.add_cog(Taste(bot))
