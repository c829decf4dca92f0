"""/taste: what earshot thinks a member likes, and a way to make it forget."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

if TYPE_CHECKING:
    from bot.bot import Earshot


class ForgetView(discord.ui.View):
    """Forget my ratings, then a second, explicit yes: nothing is deleted on one click."""

    def __init__(self, bot: Earshot, owner: int, ratings: int) -> None:
        super().__init__(timeout=300)
        self.bot = bot
        self.owner = owner
        self.ratings = ratings

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.owner:
            await interaction.response.send_message("That button is not yours.", ephemeral=True)
            return False
        return True

    @discord.ui.button(label="Forget my ratings…", style=discord.ButtonStyle.secondary)
    async def forget(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.edit_message(
            content=f"Delete all {self.ratings} of your ratings? earshot forgets your taste "
            "for good: the reactions you left on earlier replies will not count again, even "
            "though Discord still shows them.",
            embed=None,
            view=ConfirmForgetView(self.bot, self.owner),
        )


class ConfirmForgetView(discord.ui.View):
    def __init__(self, bot: Earshot, owner: int) -> None:
        super().__init__(timeout=120)
        self.bot = bot
        self.owner = owner

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return interaction.user.id == self.owner

    @discord.ui.button(label="Yes, forget them", style=discord.ButtonStyle.danger)
    async def confirm(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        removed = await self.bot.engine.forget_member(interaction.user.id)
        await interaction.response.edit_message(
            content=f"Done: {removed} ratings deleted. Your suggestions are plain audio again. "
            "Your reactions on earlier replies stay in Discord (remove them there if you like), "
            "but earshot will not count them again; new reactions count as usual.",
            view=None,
        )

    @discord.ui.button(label="Keep them", style=discord.ButtonStyle.secondary)
    async def keep(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.edit_message(content="Kept: nothing was deleted.", view=None)


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
            name="You lean toward",
            value="\n".join(f"• {tag}" for tag in profile.top_tags) or "nothing clear yet",
            inline=False,
        )
        if profile.avoided_tags:
            embed.add_field(
                name="You skip",
                value="\n".join(f"• {tag}" for tag in profile.avoided_tags),
                inline=False,
            )
        embed.set_footer(text="Rate suggestions with reactions to teach earshot.")
        rated = profile.liked + profile.disliked
        view = ForgetView(self.bot, interaction.user.id, rated) if rated else None
        await interaction.response.send_message(
            embed=embed, view=view or discord.utils.MISSING, ephemeral=True
        )


async def setup(bot: Earshot) -> None:
    await bot.add_cog(Taste(bot))
