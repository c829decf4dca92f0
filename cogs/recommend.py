"""/recommend: a YouTube link in, an embed of similar-sounding songs out, with rating reactions."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from recommender.errors import EarshotError
from recommender.links import ACCEPTED_FORMS, VIDEO_ID, LinkError, parse_video_id
from recommender.ratings import DISLIKE_KEY, LIKE_KEYS
from recommender.results import RecommendResult

if TYPE_CHECKING:
    from bot.bot import Earshot

log = logging.getLogger(__name__)

NUMBER_EMOJI = ("1️⃣", "2️⃣", "3️⃣", "4️⃣", "5️⃣", "6️⃣", "7️⃣", "8️⃣", "9️⃣", "🔟")
DISLIKE_EMOJI = "👎"
REACTION_KEYS = dict(zip(NUMBER_EMOJI, LIKE_KEYS, strict=True)) | {DISLIKE_EMOJI: DISLIKE_KEY}
FOOTER = "React 1️⃣-🔟 to like a suggestion, 👎 if the rest missed. earshot learns from your ratings."
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


def render(result: RecommendResult) -> discord.Embed:
    """The reply's embed, within Discord's limits (title 256, description 4096, total 6000)."""
    query = result.query
    title = _shorten(f"Sounds like: {query.title or query.video_id}", 256)
    embed = discord.Embed(title=title, url=query.url, colour=discord.Colour.blurple())
    heading = []
    if query.channel:
        heading.append(f"by {_plain(query.channel, 80)}")
    heard = query.labels or query.tags
    if heard:
        heading.append("tags: " + "; ".join(heard[:6]))
    lines = [_shorten(" · ".join(heading), 300)] if heading else []
    if result.play_all_url:
        playable = sum(1 for item in result.items if item.live)
        lines.append(f"[▶ Play all {playable} as one YouTube queue]({result.play_all_url})")
    if not result.items:
        lines.append("No suggestions found. Try another song.")
    per_line = (EMBED_DESCRIPTION_LIMIT - 800) // max(len(result.items), 1)
    short = len(result.items) > 10  # twenty full titles would not fit Discord's limit
    for n, item in enumerate(result.items, 1):
        name = _plain(item.title, 45 if short else 90) if item.title else "YouTube video"
        by = f" — {_plain(item.channel, 25 if short else 40)}" if item.channel else ""
        when = f" · from {_clock(item.start_s)}" if item.start_s else ""
        head = f"**{n}.** [{name}]({item.url}){by}{when} · {item.match * 100:.0f}% match"
        labels = "; ".join(item.labels[:6])
        why = f"*{'; '.join(item.reasons)}*" if item.reasons else ""
        line = "\n".join(part for part in (head, labels, why) if part)
        lines.append(_shorten(line, max(per_line, len(head))))
    embed.description = _shorten("\n".join(lines), EMBED_DESCRIPTION_LIMIT)
    embed.set_footer(text=FOOTER)
    assert len(embed) <= EMBED_TOTAL_LIMIT
    return embed


def _cooldown(interaction: discord.Interaction) -> app_commands.Cooldown | None:
    seconds = interaction.client.settings.cooldown_s  # type: ignore[attr-defined]
    return app_commands.Cooldown(1, seconds) if seconds > 0 else None


class Recommend(commands.Cog):
    def __init__(self, bot: Earshot) -> None:
        self.bot = bot
        # A context menu cannot be declared inside a cog; it is built and removed here.
        menu = app_commands.ContextMenu(name="Find similar music", callback=self.find_similar)
        cooldown = app_commands.checks.dynamic_cooldown(_cooldown, key=lambda i: i.user.id)
        self.find_similar_menu = cooldown(menu)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.find_similar_menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.find_similar_menu.name, type=self.find_similar_menu.type)

    @app_commands.command(name="recommend", description="Find music that sounds like a song")
    @app_commands.describe(
        url="A YouTube link to a song (youtube.com, youtu.be, music.youtube.com)",
        count="How many suggestions, 1 to 20 (default 5)",
    )
    @app_commands.checks.dynamic_cooldown(_cooldown, key=lambda i: i.user.id)
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
        """Apps > Find similar music: the same recommendation for a message's first link."""
        link = first_youtube_link(message.content)
        if link is None:
            raise EarshotError(f"That message has no YouTube video link. {ACCEPTED_FORMS}.")
        await self.answer(interaction, link, 5)

    async def answer(self, interaction: discord.Interaction, url: str, count: int) -> None:
        """Defer, recommend for this member and server, reply, and add rating reactions."""
        await interaction.response.defer(thinking=True)
        result = await self.bot.engine.recommend(
            url, count, member=interaction.user.id, guild=interaction.guild_id
        )
        message = await interaction.edit_original_response(embed=render(result))
        await self.bot.engine.record_reply(
            message.id,
            interaction.guild_id,
            interaction.channel_id or message.channel.id,
            interaction.user.id,
            result,
        )
        for emoji in (*NUMBER_EMOJI[: len(result.items)], DISLIKE_EMOJI):
            try:
                await message.add_reaction(emoji)
            except discord.HTTPException as exc:  # e.g. no permission: ratings still work
                log.info("could not add %s to %s: %s", emoji, message.id, exc)
                break


def first_youtube_link(text: str) -> str | None:
    """The first word of a message that is a YouTube video link (or None)."""
    for word in text.replace("<", " <").split():
        try:
            parse_video_id(word)
        except LinkError:
            continue
        if not VIDEO_ID.fullmatch(word.strip("<>")):  # a bare id in chat is too ambiguous
            return word
    return None


async def setup(bot: Earshot) -> None:
    await bot.add_cog(Recommend(bot))
