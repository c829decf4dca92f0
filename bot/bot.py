"""The earshot bot: an AutoShardedBot that opens the engine and loads the cogs.

AutoShardedBot takes as many shards as Discord's /gateway/bot recommends (one for a small
bot), so a bot that grows past Discord's sharding threshold keeps working unchanged."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from recommender.disk import describe_free, is_disk_full
from recommender.engine import Engine
from recommender.errors import DiskFullError, EarshotError

from .checks import NotOwnerError
from .config import BotSettings
from .health import LoopLagMonitor
from .invite import invite_url
from .responses import ALREADY_ANSWERED, UNKNOWN_INTERACTION, LostAnswers, tell_privately
from .stale_buttons import StaleButton

log = logging.getLogger(__name__)

BACKGROUND_STOP_S = 5.0
EXTENSIONS = (
    "cogs.recommend", "cogs.discover", "cogs.feedback", "cogs.taste", "cogs.admin",
    "cogs.catalog",
)  # fmt: skip


@dataclass(frozen=True)
class RecentError:
    at: float
    error_id: str
    where: str
    summary: str


class Earshot(commands.AutoShardedBot):
    engine: Engine

    def __init__(self, settings: BotSettings) -> None:
        intents = discord.Intents.default()  # guilds + reactions; no privileged intents
        self.lost_answers = LostAnswers()
        super().__init__(
            http_trace=self.lost_answers.trace,
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            shard_count=settings.shard_count,
            shard_ids=list(settings.shard_ids) if settings.shard_ids else None,
        )
        self.settings = settings
        self.created_at = time.monotonic()
        self.ready_after_s: float | None = None
        self.recent_errors: deque[RecentError] = deque(maxlen=20)
        self.loop_lag = LoopLagMonitor()
        self.home_guild_id: int | None = None
        self._background: set[asyncio.Task[None]] = set()

    async def setup_hook(self) -> None:
        self.loop_lag.start()
        self.engine = await Engine.open(self.settings.engine)
        stats = await self.engine.stats()
        if stats.tracks == 0:
            log.warning(
                "the catalog is empty: run `python -m recommender ingest --audioset DIR`"
                " (or --download), then `python -m recommender reindex`"
            )
        elif stats.index is None:
            log.warning("there is no index: run `python -m recommender reindex`")
        else:
            log.info("catalog: %d tracks, %d indexed", stats.tracks, stats.indexed)
        self.add_dynamic_items(StaleButton)
        self.home_guild_id = await self._home_guild()
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        self.tree.on_error = self.on_app_command_error
        if self.settings.sync != "off":
            await self.sync_commands(self.settings.sync)
        log.info(
            "listening workers start on the first new song and stop after %.0f s without one"
            " (LISTEN_IDLE_SECONDS)",
            self.settings.engine.listen_idle_s,
        )

    async def _home_guild(self) -> int | None:
        """Where the owner commands live: OWNER_GUILD_ID, else the server the application
        names as its own in the Developer Portal; None: nowhere in particular."""
        if self.settings.home_guild:
            home, why = self.settings.home_guild, "OWNER_GUILD_ID"
        else:
            home, why = (await self.application_info()).guild_id, "the application's server"
        if home is None:
            log.info(
                "/reindex, /stats and /catalog are global, shown to server administrators "
                "only; set OWNER_GUILD_ID to a server of yours to show them to every owner there"
            )
        else:
            log.info(
                "/reindex, /stats and /catalog live in server %s (%s), for every owner", home, why
            )
        return home

    async def sync_commands(self, where: str) -> list[app_commands.AppCommand]:
        if where == "global":
            synced = await self.tree.sync()
        else:
            guild = discord.Object(id=int(where))
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
        if self.home_guild_id is not None and str(self.home_guild_id) != where:
            try:
                synced += await self.tree.sync(guild=discord.Object(id=self.home_guild_id))
            except discord.Forbidden:
                log.error(
                    "cannot register the owner commands in server %s: earshot is not in it "
                    "(or was invited without applications.commands); invite it there",
                    self.home_guild_id,
                )
        log.info("synced %d application commands (%s)", len(synced), where)
        return synced

    async def on_ready(self) -> None:
        if self.ready_after_s is None:
            self.ready_after_s = time.monotonic() - self.created_at
            log.info(
                "ready as %s in %.2f s, in %d guilds",
                self.user,
                self.ready_after_s,
                len(self.guilds),
            )
            if not self.guilds and self.application_id:
                log.warning(
                    "earshot is in no server yet; invite it with %s",
                    invite_url(self.application_id),
                )

    async def is_owner(self, user: discord.abc.User) -> bool:
        if user.id in self.settings.admins:
            return True
        return await super().is_owner(user)

    def in_background(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """A task of the bot's own (a catch-up, a rebuild) that a stop cancels and waits
        for before the engine closes, so that nothing still holds the database then."""
        task = asyncio.create_task(work, name=name)
        self._background.add(task)
        task.add_done_callback(self._background_ended)
        return task

    def _background_ended(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None and not self.is_closed():
            self.report_error(task.get_name(), task.exception())  # type: ignore[arg-type]

    async def close(self) -> None:
        self.loop_lag.stop()
        await super().close()
        # Each checks is_closed() between its steps and ends there; cancelling one in the
        # middle of a database call is the last resort (the connection is then dropped).
        if self._background:
            _, pending = await asyncio.wait(self._background, timeout=BACKGROUND_STOP_S)
            for task in pending:
                log.warning(
                    "%s did not stop in %.0f s; cancelled", task.get_name(), BACKGROUND_STOP_S
                )
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=BACKGROUND_STOP_S)
        if hasattr(self, "engine"):
            await self.engine.close()

    # --- the one error handler for the command tree --------------------------------

    async def on_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        original = getattr(error, "original", error)
        if isinstance(error, app_commands.CommandOnCooldown):
            message = f"Slow down a little: you can ask again in {error.retry_after:.0f} seconds."
        elif isinstance(error, NotOwnerError):
            message = "Only the bot's owners can use this command."
        elif isinstance(error, app_commands.CheckFailure):
            message = "You cannot use this command here."
        elif isinstance(original, EarshotError):
            message = str(original)
            if original.operator_hint:  # for the operator, not the member
                level = logging.ERROR if isinstance(original, DiskFullError) else logging.WARNING
                log.log(level, "a member was told %r: %s", message, original.operator_hint)
        elif isinstance(original, discord.HTTPException) and original.code == ALREADY_ANSWERED:
            log.warning(
                "another process answered interaction %s first: two earshot processes serve "
                "the same shards with this DISCORD_TOKEN (give each its own SHARD_IDS, or stop "
                "one)",
                interaction.id,
            )
            return
        elif isinstance(original, discord.NotFound) and original.code == UNKNOWN_INTERACTION:
            log.warning(
                "interaction %s expired before earshot answered it (Discord allows 3 s for the "
                "first response): this process is overloaded, or its clock or network is slow",
                interaction.id,
            )
            return
        elif is_disk_full(original):  # the cause, not a traceback, for the operator
            full = DiskFullError(
                describe_free(self.settings.engine.data_dir), DiskFullError.ANYTHING
            )
            message = str(full)
            log.error("a member was told %r: %s (%s)", message, full.operator_hint, original)
        else:
            where = interaction.command.qualified_name if interaction.command else "?"
            error_id = self.report_error(where, original)
            message = (
                f"Sorry, something went wrong on earshot's side (error id `{error_id}`). "
                "The bot's owners can find it in the log."
            )
        await self.send_error(interaction, message)

    def report_error(self, where: str, error: BaseException) -> str:
        """Log an unexpected error with a new id, keep it for /stats, and return the id
        (which the member is shown, so the owners can find it in the log)."""
        error_id = secrets.token_hex(4)
        log.error("error %s in /%s", error_id, where, exc_info=error)
        self.recent_errors.append(
            RecentError(time.time(), error_id, where, f"{type(error).__name__}: {error}")
        )
        return error_id

    async def send_error(self, interaction: discord.Interaction, message: str) -> None:
        """An answer only the member sees, whether or not the interaction was deferred."""
        if interaction.is_expired():  # 15 minutes: its token no longer works
            log.warning("too late to tell %s: %s", interaction.user.id, message)
            return
        try:
            await tell_privately(interaction, message)
        except discord.HTTPException:
            log.warning("could not tell %s about an error: %s", interaction.user.id, message)
