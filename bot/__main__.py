"""``python -m bot``: run the earshot Discord bot. ``--sync`` registers the commands."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import sys

import aiohttp
import discord
import yarl
from dotenv import load_dotenv

from recommender.config import ConfigError
from recommender.errors import EarshotError

from .bot import Earshot
from .config import BotSettings
from .shard_lock import ShardsTakenError, claim_shards
from .shutdown import Shutdown, run

log = logging.getLogger("bot")


def point_at_api(api_base: str | None, gateway_url: str | None) -> None:
    """For tests and local development: talk to another Discord API server."""
    if api_base:
        discord.http.Route.BASE = api_base.rstrip("/")
        log.warning("using the Discord API at %s (DISCORD_API_BASE)", api_base)
    if gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
        log.warning("using the Discord gateway at %s (DISCORD_GATEWAY_URL)", gateway_url)


async def serve(settings: BotSettings) -> None:
    """Run until the connection ends or SIGTERM/SIGINT asks for a clean shutdown."""
    bot = Earshot(settings)
    shutdown = Shutdown(bot.close)
    shutdown.install(asyncio.get_running_loop())
    async with bot:
        await bot.start(settings.token)
    if shutdown.closing is not None:
        # start() returns as soon as Discord's side is closed; the engine's close (the
        # store's last queued writes, the database pool) must finish before the loop ends.
        await shutdown.closing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    parser.add_argument(
        "--sync",
        metavar="WHERE",
        nargs="?",
        const="global",
        help="register the slash commands at start-up: 'global' (default) or "
        "a guild id (instant, for a test server)",
    )
    parser.add_argument("--check", action="store_true", help="check the configuration and exit")
    args = parser.parse_args(argv)
    load_dotenv()
    discord.utils.setup_logging(level=logging.INFO, root=True)
    try:
        settings = BotSettings.from_env()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.sync:
        if args.sync != "global" and not args.sync.isdigit():
            print("error: --sync takes 'global' or a guild id", file=sys.stderr)
            return 2
        settings = dataclasses.replace(settings, sync=args.sync)
    if args.check:
        print(f"configuration is valid: {settings!r}")
        return 0
    point_at_api(settings.api_base, settings.gateway_url)
    try:
        shards = claim_shards(settings.engine.data_dir, settings.shard_ids)
    except ShardsTakenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        run(serve(settings))
    except KeyboardInterrupt:
        pass
    except discord.LoginFailure:
        print(
            "error: Discord refused DISCORD_TOKEN; copy it again from the developer portal",
            file=sys.stderr,
        )
        return 2
    except discord.PrivilegedIntentsRequired:
        print("error: the bot asked for an intent it is not allowed", file=sys.stderr)
        return 2
    except EarshotError as exc:  # the engine could not open (its database, say)
        print(f"error: {exc}", file=sys.stderr)
        if exc.operator_hint:
            print(f"to fix: {exc.operator_hint}", file=sys.stderr)
        return 1
    except (aiohttp.ClientConnectionError, discord.GatewayNotFound, OSError) as exc:
        where = settings.api_base or "discord.com"
        print(f"error: cannot reach Discord ({where}): {exc}; check the network", file=sys.stderr)
        return 3
    finally:
        shards.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
