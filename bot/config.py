"""The bot's settings, from environment variables (and .env). See .env.example."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from recommender.config import ConfigError, Settings

# Three base64url parts separated by dots; the first encodes the bot's user id.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{18,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{20,}")


def _shards(env: Mapping[str, str]) -> tuple[int | None, tuple[int, ...] | None]:
    """SHARD_COUNT and SHARD_IDS ("0,1" or "0-3"): which of Discord's shards this process
    runs, when several processes share a bot. Both unset: all of them, here."""
    raw_count = env.get("SHARD_COUNT", "").strip()
    raw_ids = env.get("SHARD_IDS", "").strip()
    if not raw_count:
        if raw_ids:
            raise ConfigError("SHARD_IDS needs SHARD_COUNT (the bot's total number of shards)")
        return None, None
    if not raw_count.isdigit() or int(raw_count) < 1:
        raise ConfigError(f"SHARD_COUNT must be a whole number of at least 1, got {raw_count!r}")
    count = int(raw_count)
    if not raw_ids:
        return count, None
    ids: list[int] = []
    for part in raw_ids.replace(" ", "").split(","):
        low, _, high = part.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise ConfigError(f"SHARD_IDS must look like 0,1 or 0-3, got {raw_ids!r}")
        ids.extend(range(int(low), int(high or low) + 1))
    if not ids or any(i >= count for i in ids) or len(set(ids)) != len(ids):
        raise ConfigError(f"SHARD_IDS must be distinct numbers below SHARD_COUNT ({count})")
    return count, tuple(sorted(ids))


@dataclass(frozen=True)
class BotSettings:
    token: str
    admins: frozenset[int]
    sync: str  # "off", "global" or a guild id
    cooldown_s: float
    api_base: str | None
    gateway_url: str | None
    engine: Settings
    shard_count: int | None = None  # None: as many as Discord recommends, all in here
    shard_ids: tuple[int, ...] | None = None  # this process's shards, of shard_count
    home_guild: int | None = None  # OWNER_GUILD_ID: where the owner commands live

    def __repr__(self) -> str:  # never let the token reach a log
        return (
            f"BotSettings(admins={sorted(self.admins)}, sync={self.sync!r}, "
            f"cooldown_s={self.cooldown_s}, api_base={self.api_base!r})"
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BotSettings:
        env = os.environ if env is None else env
        token = env.get("DISCORD_TOKEN", "").strip()
        if not token:
            raise ConfigError(
                "DISCORD_TOKEN is not set: put the bot token from the Discord developer "
                "portal (Applications > your app > Bot > Reset Token) in .env"
            )
        if not TOKEN_SHAPE.fullmatch(token):
            raise ConfigError(
                "DISCORD_TOKEN does not look like a bot token (three dot-separated parts); "
                "copy it again from the developer portal"
            )
        admins: set[int] = set()
        for part in env.get("BOT_ADMINS", "").replace(" ", "").split(","):
            if not part:
                continue
            if not part.isdigit():
                raise ConfigError(f"BOT_ADMINS must be user ids separated by commas, got {part!r}")
            admins.add(int(part))
        sync = env.get("SYNC_COMMANDS", "").strip().lower() or "off"
        if sync not in ("off", "global") and not sync.isdigit():
            raise ConfigError(f"SYNC_COMMANDS must be off, global or a guild id, got {sync!r}")
        raw_cooldown = env.get("RECOMMEND_COOLDOWN_SECONDS", "").strip() or "20"
        try:
            cooldown = float(raw_cooldown)
        except ValueError:
            raise ConfigError(
                f"RECOMMEND_COOLDOWN_SECONDS must be a number, got {raw_cooldown!r}"
            ) from None
        if not 0 <= cooldown <= 3600:
            raise ConfigError("RECOMMEND_COOLDOWN_SECONDS must be between 0 and 3600")
        shard_count, shard_ids = _shards(env)
        home = env.get("OWNER_GUILD_ID", "").strip()
        if home and not home.isdigit():
            raise ConfigError(f"OWNER_GUILD_ID must be a server id (digits), got {home!r}")
        return cls(
            home_guild=int(home) if home else None,
            shard_count=shard_count,
            shard_ids=shard_ids,
            token=token,
            admins=frozenset(admins),
            sync=sync,
            cooldown_s=cooldown,
            api_base=env.get("DISCORD_API_BASE", "").strip() or None,
            gateway_url=env.get("DISCORD_GATEWAY_URL", "").strip() or None,
            engine=Settings.from_env(env),
        )
