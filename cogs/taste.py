"""/taste: what earshot thinks a member likes, and a way to make it forget."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

if TYPE_CHECKING:
    from bot.bot import Earshot


CONFIRM_S = 300  # a "Yes, forget them" shown longer ago than this asks again
STEPS = {
    "ask": ("Forget my ratings…", discord.ButtonStyle.secondary),
    "yes": ("Yes, forget them", discord.ButtonStyle.danger),
    "keep": ("Keep them", discord.ButtonStyle.secondary),
}


class ForgetButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"earshot:forget:(?P<owner>\d+):(?P<step>ask|yes|keep)",
):
    """The buttons of "Forget my ratings": first a question, then an explicit yes, so one
    click deletes nothing. Their ids say whose they are and which step, so they answer
    after a restart and at any later time (a stale yes asks again) instead of failing."""

    def __init__(self, owner: int, step: str) -> None:
        label, style = STEPS[step]
        super().__init__(
            discord.ui.Button(label=label, style=style, custom_id=f"earshot:forget:{owner}:{step}")
        )
        self.owner = owner
        self.step = step

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> ForgetButton:
        return cls(int(match["owner"]), match["step"])

    @staticmethod
    def view(owner: int, *steps: str) -> discord.ui.View:
        view = discord.ui.View(timeout=None)
        for step in steps:
            view.add_item(ForgetButton(owner, step))
        return view

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.owner:
            await interaction.response.send_message(
                "That button is not yours: run /taste to see your own ratings.", ephemeral=True
            )
            return False
        return True

    async def callback(self, interaction: discord.Interaction) -> None:
        """A button's failure is answered like a command's, never "interaction failed"."""
        try:
            await self._answer(interaction)
        except Exception as exc:
            bot = interaction.client
            error_id = bot.report_error("taste button", exc)  # type: ignore[attr-defined]
            said = (
                f"Sorry, something went wrong on earshot's side (error id `{error_id}`). "
                "Nothing was deleted; try again in a minute."
            )
            await bot.send_error(interaction, said)  # type: ignore[attr-defined]

    async def _answer(self, interaction: discord.Interaction) -> None:
        engine = interaction.client.engine  # type: ignore[attr-defined]
        if self.step == "keep":
            await interaction.response.edit_message(content="Kept: nothing was deleted.", view=None)
            return
        profile = await engine.taste(self.owner)
        rated = profile.liked + profile.disliked
        if rated == 0:
            await interaction.response.edit_message(
                content="You have no ratings to forget.", embed=None, view=None
            )
        elif self.step == "ask" or _shown_too_long_ago(interaction.message):
            again = "That question expired; here it is again. " if self.step == "yes" else ""
            await interaction.response.edit_message(
                content=f"{again}Delete {_all_of(rated)}? earshot forgets your "
                "taste for good: the reactions you left on earlier replies will not count "
                "again, even though Discord still shows them.",
                embed=None,
                view=self.view(self.owner, "yes", "keep"),
            )
        else:
            removed = await engine.forget_member(self.owner)
            await interaction.response.edit_message(
                content=f"Done: {_count(removed)} deleted. Your suggestions are plain audio "
                "again. Your reactions on earlier replies stay in Discord (remove them there "
                "if you like), but earshot will not count them again; new reactions count as "
                "usual.",
                view=None,
            )


def _count(ratings: int) -> str:
    return f"{ratings} rating{'s' * (ratings != 1)}"


def _all_of(ratings: int) -> str:
    return "your only rating" if ratings == 1 else f"all {ratings} of your ratings"


def _shown_too_long_ago(message: discord.Message | None) -> bool:
    if message is None:
        return True
    shown = message.edited_at or message.created_at
    return (discord.utils.utcnow() - shown).total_seconds() > CONFIRM_S


class Taste(commands.Cog):
    def __init__(self, bot: Earshot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(ForgetButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(ForgetButton)

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
        view = ForgetButton.view(interaction.user.id, "ask") if rated else None
        await interaction.response.send_message(
            embed=embed, view=view or discord.utils.MISSING, ephemeral=True
        )


async def setup(bot: Earshot) -> None:
    await bot.add_cog(Taste(bot))
