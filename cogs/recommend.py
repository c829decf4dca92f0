"""/recommend: a YouTube link in, an embed of similar-sounding songs out, with rating reactions."""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from recommender.errors import EarshotError
from recommender.results import RecommendResult
from recommender.sources.links import ACCEPTED_FORMS, find_video_link, parse_video_id

from .utils.cooldown import Cooldowns
from .utils.reactions import DISLIKE_EMOJI, NUMBER_EMOJI

if TYPE_CHECKING:
    from bot.bot import Earshot

log = logging.getLogger(__name__)

PER_MESSAGE = len(NUMBER_EMOJI)  # suggestions per message, each with its own reactions
FOOTER = (
    "React 1️⃣-🔟 to like a suggestion, 👎 if the others in this message missed. "
    "earshot learns from your ratings."
)
EMBED_DESCRIPTION_LIMIT = 4096
EMBED_TOTAL_LIMIT = 6000


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 60}:{s % 60:02d}"


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _plain(text: str, limit: int) -> str:
    """Text from YouTube made safe inside a markdown link: no link brackets, no markup."""
    text = text.replace("[", "(").replace("]", ")").replace("\n", " ")
    return discord.utils.escape_markdown(_shorten(text.strip(), limit))


def render(result: RecommendResult, first: int = 1, heading: bool = True) -> discord.Embed:
    """One message's embed, its suggestions numbered from ``first``; within Discord's
    limits (title 256, description 4096, total 6000)."""
    query = result.query
    if heading:
        title = _shorten(f"Sounds like: {query.title or query.video_id}", 256)
    else:
        title = _shorten(f"More like: {query.title or query.video_id}", 256)
    embed = discord.Embed(title=title, url=query.url, colour=discord.Colour.blurple())
    lines = []
    if heading:
        about = []
        if query.channel:
            about.append(f"by {_plain(query.channel, 80)}")
        heard = query.labels or query.tags
        if heard:
            about.append("tags: " + "; ".join(heard[:6]))
        if about:
            lines.append(_shorten(" · ".join(about), 300))
        if result.play_all_url:
            playable = sum(1 for item in result.items if item.live)
            lines.append(f"[▶ Play all {playable} as one YouTube queue]({result.play_all_url})")
    page = result.items[first - 1 : first - 1 + PER_MESSAGE]
    if not page:
        lines.append("No suggestions found. Try another song.")
    per_line = (EMBED_DESCRIPTION_LIMIT - 800) // max(len(page), 1)
    for n, item in enumerate(page, first):
        name = _plain(item.title, 90) if item.title else "YouTube video"
        by = f" — {_plain(item.channel, 40)}" if item.channel else ""
        when = f" · from {_clock(item.start_s)}" if item.start_s else ""
        head = f"**{n}.** [{name}]({item.url}){by}{when}"
        labels = "; ".join(item.labels[:6])
        why = f"*{'; '.join(item.reasons)}*" if item.reasons else ""
        line = "\n".join(part for part in (head, labels, why) if part)
        lines.append(_shorten(line, max(per_line, len(head))))
    embed.description = _shorten("\n".join(lines), EMBED_DESCRIPTION_LIMIT)
    embed.set_footer(text=FOOTER)
    assert len(embed) <= EMBED_TOTAL_LIMIT
    return embed


def link_in(message: discord.Message, bot_id: int | None) -> str | None:
    """The song a message is about: on earshot's own reply, the song it answered;
    otherwise the first YouTube video link in its text, then in its embeds."""
    if bot_id is not None and message.author.id == bot_id:
        for embed in message.embeds:
            if embed.url and find_video_link(embed.url):
                return embed.url
    texts = [message.content]
    for embed in message.embeds:
        texts += [embed.url or "", embed.title or "", embed.description or ""]
        texts += [field.value for field in embed.fields]
    for text in texts:
        link = find_video_link(text or "")
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
        url="A YouTube link to a song (youtube.com, youtu.be, music.youtube.com)",
        count="How many suggestions, 1 to 20 (default 5)",
    )
    async def recommend(
        self,
        interaction: discord.Interaction,
        url: app_commands.Range[str, 1, 500],
        count: app_commands.Range[int, 1, 20] = 5,
    ) -> None:
        await self.answer(interaction, url, count)

    async def find_similar(
        self, interaction: discord.Interaction, message: discord.Message
    ) -> None:
        """Apps > Find similar music: the same recommendation for the song a message is
        about."""
        link = link_in(message, self.bot.user.id if self.bot.user else None)
        if link is None:
            raise EarshotError(f"That message has no YouTube video link. Send {ACCEPTED_FORMS}.")
        await self.answer(interaction, link, 5)

    async def answer(self, interaction: discord.Interaction, url: str, count: int) -> None:
        """Check the link and the cooldown privately first (no network needed), then defer,
        recommend for this member and server, reply, and add the rating reactions."""
        parse_video_id(url)  # a refused link is private from the first response
        await self.cooldowns.check(interaction.user.id)
        await interaction.response.defer(thinking=True)
        try:
            result = await self.bot.engine.recommend(
                url, count, member=interaction.user.id, guild=interaction.guild_id
            )
        except EarshotError as exc:
            if exc.costs_cooldown:  # it held a listener to the time limit: it costs the wait
                await self.cooldowns.start(interaction.user.id)
            raise
        await self.cooldowns.start(interaction.user.id)  # a refusal costs no wait
        first = await interaction.edit_original_response(embed=render(result))
        messages = [first]
        for start in range(PER_MESSAGE + 1, len(result.items) + 1, PER_MESSAGE):
            more = await interaction.followup.send(
                embed=render(result, first=start, heading=False), wait=True
            )
            messages.append(more)
        for n, message in enumerate(messages):
            page = result.items[n * PER_MESSAGE : (n + 1) * PER_MESSAGE]
            await self.bot.engine.record_reply(
                message.id,
                interaction.guild_id,
                interaction.channel_id or message.channel.id,
                interaction.user.id,
                dataclasses.replace(result, items=page),
            )
            await self._add_reactions(message, len(page))

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
