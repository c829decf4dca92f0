"""One new song at a time per member, in this process and, when bot processes share a
listening queue (QUEUE_URL), across all of them through a Redis key per member.

Listening capacity is shared by everyone: a member who sends a dozen links at once gets
the first listened to and is told to wait for the rest, and other members' songs go
ahead meanwhile. A member asking again for the song already in flight shares it. The
Redis key expires on its own (a bot process that died holding one frees it), and a
Redis that does not answer never refuses a member: this process's own count stands.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..errors import BusyError

log = logging.getLogger(__name__)

REDIS_BUDGET_S = 0.5
# Delete the key only if it still names this claim's song (it may have expired and been
# taken by a newer claim of the same member since).
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"


class OneSongAtATimeError(BusyError):
    def __init__(self) -> None:
        super().__init__(
            "earshot is still listening to the last new song you asked about; ask again "
            "once that one is answered (one new song at a time each)."
        )

    def __reduce__(self) -> tuple:
        return type(self), ()


class MemberSlots:
    def __init__(self) -> None:
        # member -> (the new song being listened to for them, how many asks share it)
        self._here: dict[int, tuple[str, int]] = {}
        self._redis: Redis | None = None
        self._prefix = ""

    def share(self, redis: Redis, prefix: str) -> None:
        """Count claims across every process that uses this Redis and prefix."""
        self._redis, self._prefix = redis, prefix

    @contextlib.asynccontextmanager
    async def claim(self, member: int, video_id: str, hold_s: float) -> AsyncIterator[None]:
        """Hold ``member``'s one slot for ``video_id`` (at most ``hold_s``, across
        processes); OneSongAtATimeError when another of their songs holds it."""
        song, asks = self._here.get(member, (video_id, 0))
        if song != video_id:
            raise OneSongAtATimeError()
        shared = await self._claim_shared(member, video_id, hold_s)
        self._here[member] = (video_id, self._here.get(member, (video_id, 0))[1] + 1)
        try:
            yield
        finally:
            song, asks = self._here[member]
            if asks > 1:
                self._here[member] = (song, asks - 1)
            else:
                del self._here[member]
            if shared:
                await self._release_shared(member, video_id)

    def _key(self, member: int) -> str:
        return f"{self._prefix}:listening:{member}"

    async def _claim_shared(self, member: int, video_id: str, hold_s: float) -> bool:
        """True when this claim took the member's Redis key (and must give it back)."""
        if self._redis is None:
            return False
        key, ms = self._key(member), max(int(hold_s * 1000), 1)
        try:
            taken = await asyncio.wait_for(
                self._redis.set(key, video_id, nx=True, px=ms), REDIS_BUDGET_S
            )
            if taken:
                return True
            holder = await asyncio.wait_for(self._redis.get(key), REDIS_BUDGET_S)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("member slots: Redis unreachable (%s); counting in this process", exc)
            return False
        if holder is not None and holder.decode() != video_id:
            raise OneSongAtATimeError()
        return False  # the same song, in flight elsewhere: shared, and not ours to free

    async def _release_shared(self, member: int, video_id: str) -> None:
        assert self._redis is not None
        try:
            await asyncio.wait_for(
                self._redis.eval(_RELEASE, 1, self._key(member), video_id), REDIS_BUDGET_S
            )
        except (RedisError, OSError, TimeoutError) as exc:  # it expires on its own
            log.warning("member slots: could not free %s's slot in Redis: %s", member, exc)
