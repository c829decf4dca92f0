"""A member's wait between two answered requests: in this process, or in Redis when
earshot runs past one machine (QUEUE_URL), so the wait is the same whichever bot
process a member reaches (a member in two servers may meet two shards).

The check runs before Discord's 3-second deadline for a first response, so Redis gets
REDIS_BUDGET_S; past it, or when Redis is down, this process's own memory answers."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from .errors import EarshotError

log = logging.getLogger(__name__)

REDIS_BUDGET_S = 0.5


class LocalCooldowns:
    def __init__(self) -> None:
        self._until: dict[int, float] = {}

    async def left(self, user_id: int) -> float:
        return max(self._until.get(user_id, 0.0) - time.monotonic(), 0.0)

    async def start(self, user_id: int, seconds: float) -> None:
        now = time.monotonic()
        self._until[user_id] = now + seconds
        if len(self._until) > 10_000:  # forget members whose wait is over
            self._until = {u: t for u, t in self._until.items() if t > now}


class RedisCooldowns:
    """One key per waiting member, expiring with the wait; falls back to this process's
    own memory while Redis is unreachable (a member is never refused for that)."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self.local = LocalCooldowns()

    def _key(self, user_id: int) -> str:
        return f"{self.prefix}:cooldown:{user_id}"

    async def left(self, user_id: int) -> float:
        try:
            ms = await asyncio.wait_for(self.redis.pttl(self._key(user_id)), REDIS_BUDGET_S)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("cooldowns: Redis unreachable (%s); using this process's own", exc)
            return await self.local.left(user_id)
        return ms / 1000 if ms and ms > 0 else 0.0

    async def start(self, user_id: int, seconds: float) -> None:
        await self.local.start(user_id, seconds)
        try:
            key, ms = self._key(user_id), max(int(seconds * 1000), 1)
            await asyncio.wait_for(self.redis.set(key, b"1", px=ms), REDIS_BUDGET_S)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("cooldowns: Redis unreachable (%s); kept in this process only", exc)


class Cooldowns:
    """The wait every bot process agrees on: kept in the listening queue's Redis once it is
    connected (``connect`` gives its client; None without a queue), in this process's
    memory until then, and whenever Redis is slow or down."""

    def __init__(self, connect: Callable[[], Awaitable[Redis]] | None, prefix: str) -> None:
        self._connect = connect
        self._prefix = prefix
        self._store: LocalCooldowns | RedisCooldowns = LocalCooldowns()

    async def _current(self) -> LocalCooldowns | RedisCooldowns:
        if self._connect is not None and not isinstance(self._store, RedisCooldowns):
            try:  # within the budget: the member is waiting for a first response
                redis = await asyncio.wait_for(self._connect(), REDIS_BUDGET_S)
            except TimeoutError:
                log.warning("cooldowns kept in this process for now: Redis is slow to answer")
            except EarshotError as exc:  # the queue is unreachable
                log.warning("cooldowns kept in this process for now: %s", exc.operator_hint)
            else:
                self._store = RedisCooldowns(redis, self._prefix)
        return self._store

    async def left(self, user_id: int) -> float:
        """Seconds this member must still wait before another answered request."""
        return await (await self._current()).left(user_id)

    async def start(self, user_id: int, seconds: float) -> None:
        if seconds > 0:
            await (await self._current()).start(user_id, seconds)
