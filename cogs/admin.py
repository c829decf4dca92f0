"""Owner-only commands: /reindex in the background with live progress, and /stats."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.checks import add_owner_cog, owner_only
from bot.health import resident_mb
from recommender.errors import CatalogEmptyError, EarshotError

if TYPE_CHECKING:
    from bot.bot import Earshot

log = logging.getLogger(__name__)
PROGRESS_EVERY_S = 2.0
EMPTY_CATALOG = (
    "The catalog is empty, so there is nothing to index, and nothing is preparing it. "
    "Fill it on the bot's server with `python -m recommender prepare` (or `ingest "
    "--audioset DIR`), then run /reindex again."
)


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class Admin(commands.Cog):
    def __init__(self, bot: Earshot) -> None:
        self.bot = bot
        self.reindex_task: asyncio.Task[None] | None = None

    def _progress_text(self) -> str:
        stage, done, total = self.bot.engine.reindex_progress or ("starting", 0, 0)
        if total:
            return f"{stage}: {done:,}/{total:,} ({100 * done / total:.0f}%)"
        return stage

    @app_commands.command(name="reindex", description="Rebuild the search index (bot owners)")
    @app_commands.default_permissions(administrator=True)
    @app_commands.check(owner_only)
    async def reindex(self, interaction: discord.Interaction) -> None:
        if self.reindex_task is not None and not self.reindex_task.done():
            await interaction.response.send_message(
                f"A rebuild is already running: {self._progress_text()}.", ephemeral=True
            )
            return
        if (await self.bot.engine.stats()).tracks == 0:
            await interaction.response.send_message(EMPTY_CATALOG, ephemeral=True)
            return
        await interaction.response.send_message(
            "Rebuilding the index in the background; /recommend keeps working meanwhile.",
            ephemeral=True,
        )
        self.reindex_task = self.bot.in_background(self._rebuild(interaction), "reindex")

    async def _rebuild(self, interaction: discord.Interaction) -> None:
        started = time.monotonic()
        job = asyncio.create_task(self.bot.engine.reindex())
        try:
            while not job.done():
                if self.bot.is_closed():  # stopping: the rebuild stops with the bot
                    raise asyncio.CancelledError
                await asyncio.wait({job}, timeout=PROGRESS_EVERY_S)
                if not job.done():
                    await self._edit(interaction, f"Rebuilding the index… {self._progress_text()}")
        except asyncio.CancelledError:  # the bot is stopping: the rebuild stops with it
            job.cancel()
            await asyncio.wait({job})
            raise
        try:
            built = job.result()
        except CatalogEmptyError:
            await self._edit(interaction, EMPTY_CATALOG)
            return
        except EarshotError as exc:
            told = str(exc) + (f" To fix: {exc.operator_hint}." if exc.operator_hint else "")
            if self.bot.engine.index is not None and "keeps serving" not in told:
                told += " The old index keeps serving."
            await self._edit(interaction, f"The rebuild failed: {told}")
            return
        except Exception as exc:
            error_id = self.bot.report_error("reindex", exc)
            await self._edit(
                interaction,
                f"The rebuild failed (error id `{error_id}`); the old index keeps serving.",
            )
            return
        await self._edit(
            interaction,
            f"Index rebuilt: {built.count:,} items in {time.monotonic() - started:.0f} s, "
            "now serving.",
        )

    async def _edit(self, interaction: discord.Interaction, content: str) -> None:
        if interaction.is_expired():
            return
        try:
            await interaction.edit_original_response(content=content)
        except discord.HTTPException as exc:
            log.info("could not update the /reindex reply: %s", exc)

    @app_commands.command(name="stats", description="Catalog, index and error figures (owners)")
    @app_commands.describe(minutes="Window for the loop-lag figures (default 1 minute)")
    @app_commands.default_permissions(administrator=True)
    @app_commands.check(owner_only)
    async def stats(
        self, interaction: discord.Interaction, minutes: app_commands.Range[int, 1, 10] = 1
    ) -> None:
        stats = await self.bot.engine.stats(videos=True)
        embed = discord.Embed(title="earshot", colour=discord.Colour.dark_teal())
        embed.add_field(
            name="Catalog",
            value=stats.catalog_in_words,
        )
        index = stats.index
        if index:
            embed.add_field(
                name="Index",
                value=f"{index.count:,} items, built {_age(time.time() - index.built_at)} ago",
            )
        else:
            embed.add_field(
                name="Index",
                value="none yet: /reindex builds it"
                if stats.catalog_clips
                else "none yet: the catalog is empty (`python -m recommender prepare`)",
            )
        videos = stats.videos
        checked = videos.get("live", 0) + videos.get("restricted", 0) + videos.get("gone", 0)
        embed.add_field(
            name="Videos checked",
            value=f"{checked:,} of {checked + videos.get('unchecked', 0):,}: "
            f"{videos.get('live', 0):,} play, "
            f"{videos.get('restricted', 0) + videos.get('gone', 0):,} never suggested"
            + (
                " (`python -m recommender verify` checks the rest)"
                if videos.get("unchecked")
                else ""
            ),
            inline=False,
        )
        embed.add_field(name="Cached songs", value=f"{stats.cached_embeddings:,}")
        embed.add_field(name="Ratings", value=f"{stats.ratings:,}")
        if self.reindex_task is not None and not self.reindex_task.done():
            embed.add_field(name="Rebuild", value=self._progress_text(), inline=False)
        lag = self.bot.loop_lag.summary(last_s=60.0 * minutes)
        memory = resident_mb()
        embed.add_field(
            name="Health",
            value=f"loop lag p50 {lag['p50_ms']:.1f} ms, p99 {lag['p99_ms']:.1f} ms, "
            f"max {lag['max_ms']:.1f} ms"
            + (f"; memory {memory:.0f} MB" if memory is not None else ""),
            inline=False,
        )
        errors = list(self.bot.recent_errors)[-5:]
        embed.add_field(
            name="Recent errors",
            value="\n".join(
                f"`{e.error_id}` /{e.where} {_age(time.time() - e.at)} ago: {e.summary[:80]}"
                for e in errors
            )
            or "none",
            inline=False,
        )
        await interaction.response.send_message(embed=embed, ephemeral=True)


async def setup(bot: Earshot) -> None:
    await add_owner_cog(bot, Admin(bot))
