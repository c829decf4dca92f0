"""/recommend and Apps > Find similar music: a song named any way (or a member's own file
or voice message) in, similar-sounding songs out, with rating reactions."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.responses import answer_privately, think_privately
from recommender.errors import EarshotError
from recommender.results import MAX_SUGGESTIONS
from recommender.sources.naming import find_song_link, parse_song
from recommender.sources.reference import ACCEPTED_SONGS
from recommender.sources.uploads import ACCEPTED_UPLOADS, Upload, check_early

from .utils.answers import post_suggestions
from .utils.cooldown import Cooldowns
from .utils.reply import pages, render

if TYPE_CHECKING:
    from bot.bot import Earshot

log = logging.getLogger(__name__)


def _names_a_song(text: str) -> bool:
    try:
        parse_song(text)
    except EarshotError:
        return False
    return True


def upload_of(attachment: discord.Attachment, voice: bool = False) -> Upload:
    """An attachment as earshot's sources take it (``voice``: the message is flagged as a
    voice message)."""
    return Upload(
        attachment.url,
        attachment.filename,
        attachment.content_type or "",
        attachment.size,
        attachment.duration,
        voice or attachment.is_voice_message(),
    )


def sound_in(message: discord.Message) -> Upload | None:
    """The first audio or video attachment of a message (a voice message is one)."""
    for attachment in message.attachments:
        kind = (attachment.content_type or "").lower()
        if message.flags.voice or kind.startswith(("audio/", "video/")):
            return upload_of(attachment, message.flags.voice)
    return None


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
        song="The song's name and artist, or a link: YouTube, Spotify, Deezer, Apple Music, "
        "SoundCloud, Bandcamp",
        count=f"How many suggestions, 1 to {MAX_SUGGESTIONS} (default 5)",
        file="Or an audio or video file of your own (the answer is private unless you share)",
        share="Post the answer to a file for the channel (default: only you see it)",
    )
    async def recommend(
        self,
        interaction: discord.Interaction,
        song: app_commands.Range[str, 1, 500] | None = None,
        count: app_commands.Range[int, 1, MAX_SUGGESTIONS] = 5,
        file: discord.Attachment | None = None,
        share: bool = False,
    ) -> None:
        if file is not None:
            if song is not None:
                raise EarshotError(
                    "Give a song or a file, not both: earshot listens to one at a time."
                )
            await self.answer_upload(interaction, upload_of(file), count, share)
            return
        if song is None:
            raise EarshotError(
                f"Name a song, or attach one. Accepted: {ACCEPTED_SONGS}; or {ACCEPTED_UPLOADS}."
            )
        await self.answer(interaction, song, count)

    async def find_similar(
        self, interaction: discord.Interaction, message: discord.Message
    ) -> None:
        """Apps > Find similar music: the same recommendation for the song a message is
        about, or for its audio file or voice message (answered privately)."""
        upload = sound_in(message)
        if upload is not None:
            await self.answer_upload(interaction, upload, 5, share=False)
            return
        link = link_in(message, self.bot.user.id if self.bot.user else None)
        if link is None:
            raise EarshotError(
                "That message names no song earshot can listen to. It takes a message with "
                "a link to one song on YouTube, Spotify, Deezer, Apple Music, SoundCloud or "
                f"Bandcamp, or with {ACCEPTED_UPLOADS}."
            )
        await self.answer(interaction, link, 5)

    async def answer(self, interaction: discord.Interaction, song: str, count: int) -> None:
        """Check the link and the cooldown first (no network needed), then think privately
        while earshot listens: every refusal stays private from the first response. The
        suggestions are then posted publicly, with their rating reactions."""
        parse_song(song)  # a refusal is private from the first response
        await self.cooldowns.check(interaction.user.id)
        await think_privately(interaction, self.bot.lost_answers)
        result = await self.cooldowns.costing(
            interaction.user.id,
            self.bot.engine.recommend(
                song, count, member=interaction.user.id, guild=interaction.guild_id
            ),
        )
        await post_suggestions(self.bot, interaction, result)

    async def answer_upload(
        self, interaction: discord.Interaction, upload: Upload, count: int, share: bool
    ) -> None:
        """A member's file or voice message: checked before anything is fetched, read while
        the interaction is open (its link expires), answered privately unless shared."""
        check_early(upload, self.bot.settings.engine)
        await self.cooldowns.check(interaction.user.id)
        await think_privately(interaction, self.bot.lost_answers)
        result = await self.cooldowns.costing(
            interaction.user.id,
            self.bot.engine.recommend_upload(
                upload, count, member=interaction.user.id, guild=interaction.guild_id
            ),
        )
        if share:
            await post_suggestions(self.bot, interaction, result)
        else:
            pages_ = range(1, pages(result) + 1)
            await answer_privately(interaction, [render(result, p, private=True) for p in pages_])


async def setup(bot: Earshot) -> None:
    await bot.add_cog(Recommend(bot))
