"""/catalog add, for the bot's owners: the server's own songs into the catalog, in the
background with live progress, as /reindex runs (a folder on the bot's machine, or a
Subsonic server's library, playlist or album). The same work as
``python -m recommender add``, through ``bot.engine.adder``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.checks import add_owner_cog, owner_only
from recommender.errors import EarshotError
from recommender.sources.catalog_source import source_kind
from recommender.sources.music_lists import parse_list
from recommender.sources.urls import BadLink

if TYPE_CHECKING:
    from bot.bot import Earshot
    from recommender.listening.adding import AddReport
    from recommender.listening.song_links import LinkReport

log = logging.getLogger(__name__)
T = TypeVar("T")
PROGRESS_EVERY_S = 2.0
REASONS_SHOWN = 3  # refusal reasons in the summary, most common first


class Catalog(commands.Cog):
    catalog = app_commands.Group(
        name="catalog",
        description="The server's own songs (bot owners)",
        default_permissions=discord.Permissions(administrator=True),
    )

    def __init__(self, bot: Earshot) -> None:
        self.bot = bot
        self.task: asyncio.Task[None] | None = None
        self.progress: tuple[str, int, int] = ("starting", 0, 0)

    def _progress_text(self) -> str:
        stage, done, total = self.progress
        what = {"adding": "hearing songs", "links": "finding their videos"}.get(stage, stage)
        return f"{what}: {done:,}/{total:,}" if total else what

    @catalog.command(name="add", description="Add songs from a folder or a Subsonic server")
    @app_commands.describe(
        source="A folder on the bot's machine, a Subsonic server, or a Deezer or Apple Music list",
        playlist="Only this playlist of the Subsonic server (its name or id)",
        album="Only this album of the Subsonic server (its name or id)",
    )
    @app_commands.check(owner_only)
    async def add(
        self,
        interaction: discord.Interaction,
        source: app_commands.Range[str, 1, 500],
        playlist: app_commands.Range[str, 1, 200] | None = None,
        album: app_commands.Range[str, 1, 200] | None = None,
    ) -> None:
        refusal = self._refusal(source, playlist, album)
        if refusal:
            await interaction.response.send_message(refusal, ephemeral=True)
            return
        self.progress = ("starting", 0, 0)
        await interaction.response.send_message(
            "Adding songs in the background; /recommend keeps working meanwhile.", ephemeral=True
        )
        work = self._add(interaction, source, playlist, album)
        self.task = self.bot.in_background(work, "catalog add")

    def _refusal(self, source: str, playlist: str | None, album: str | None) -> str:
        if self.task is not None and not self.task.done():
            return f"Songs are being added already: {self._progress_text()}."
        kind = source_kind(source)
        if kind == "site":
            try:
                parse_list(source)
            except BadLink as exc:
                return f"{exc}."
        if (playlist or album) and kind != "subsonic":
            return "A playlist or an album is picked on a Subsonic server; give its address."
        if playlist and album:
            return "Give a playlist or an album, not both."
        return ""

    def _report(self, stage: str, done: int, total: int) -> None:
        self.progress = (stage, done, total)

    async def _add(
        self,
        interaction: discord.Interaction,
        source: str,
        playlist: str | None,
        album: str | None,
    ) -> None:
        adder = self.bot.engine.adder
        # One listening slot stays free for members' songs while a catalog fills.
        share = max(1, self.bot.engine.settings.max_concurrent_requests - 1)
        kind = source_kind(source)
        if kind == "folder":
            added = adder.folder(Path(source).expanduser(), self._report, workers=share)
        elif kind == "site":
            added = adder.music_list(source, self._report, workers=share)
        else:
            added = adder.subsonic(
                source, playlist=playlist, album=album, progress=self._report, workers=share
            )
        try:
            report = await self._with_progress(interaction, added)
            text = _summary(report)
            if not report.stopped and report.added:
                links = await self._with_progress(interaction, adder.links.sweep(self._report))
                text += " " + _links(links)
        except EarshotError as exc:
            await self._edit(interaction, f"Nothing more could be added: {exc}")
            return
        except Exception as exc:
            error_id = self.bot.report_error("catalog add", exc)
            await self._edit(interaction, f"Adding songs failed (error id `{error_id}`).")
            return
        if report.added:
            text += " Run /reindex to suggest them."
        await self._edit(interaction, text)

    async def _with_progress(self, interaction: discord.Interaction, work: Awaitable[T]) -> T:
        job = asyncio.ensure_future(work)
        try:
            while not job.done():
                await asyncio.wait({job}, timeout=PROGRESS_EVERY_S)
                if not job.done():
                    await self._edit(interaction, f"Adding songs… {self._progress_text()}")
        except asyncio.CancelledError:  # the bot is stopping: the run stops with it
            job.cancel()
            await asyncio.wait({job})
            raise
        return job.result()

    async def _edit(self, interaction: discord.Interaction, content: str) -> None:
        if interaction.is_expired():
            log.info("catalog add: %s", content)  # past Discord's 15 minutes: the log has it
            return
        try:
            await interaction.edit_original_response(content=content[:2000])
        except discord.HTTPException as exc:
            log.info("could not update the /catalog add reply: %s", exc)


def _summary(report: AddReport) -> str:
    text = (
        f"{report.found:,} songs found: {report.added:,} added, {report.already:,} already "
        f"there, {report.refused_count:,} refused."
    )
    reasons = sorted(report.refused.items(), key=lambda kv: -len(kv[1]))[:REASONS_SHOWN]
    for reason, names in reasons:
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3:,} more" if len(names) > 3 else "")
        text += f"\n• {len(names):,} refused: {reason} ({shown})"
    if report.stopped:
        text += f"\nStopped early: {report.stopped} What was added stays; run it again to go on."
    return text


def _links(report: LinkReport) -> str:
    text = f"Videos found for {report.found:,}; {report.none:,} link to a YouTube Music search."
    if report.stopped:
        text += f" The search stopped early ({report.stopped}); the next add goes on."
    return text


async def setup(bot: Earshot) -> None:
    await add_owner_cog(bot, Catalog(bot))
