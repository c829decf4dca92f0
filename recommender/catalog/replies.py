"""Replies, reactions and the ratings derived from them."""

from __future__ import annotations

import time
from collections.abc import (
    Sequence,
)
from typing import TYPE_CHECKING

from ..ratings import Community, Reply, rating_from_reactions

if TYPE_CHECKING:
    pass

from .connection import StoreCore
from .rows import _sql


class RepliesTables(StoreCore):
    # --- replies and ratings -------------------------------------------------------

    async def record_reply(self, reply: Reply) -> None:
        """Which suggestion stands at which position of a reply, for later reactions.

        Recording a message again replaces it whole: its items, reactions and ratings
        go with the old record (the foreign keys cascade)."""
        r = reply
        async with self.transaction():
            await self._execute("DELETE FROM replies WHERE message_id = :m", {"m": r.message_id})
            await self._execute(
                "INSERT INTO replies"
                " (message_id, guild_id, channel_id, user_id, query_video, created_at)"
                " VALUES (:m, :guild, :channel, :user, :query, :at)",
                {
                    "m": r.message_id,
                    "guild": r.guild_id,
                    "channel": r.channel_id,
                    "user": r.user_id,
                    "query": r.query_video,
                    "at": time.time(),
                },
            )
            items = [
                {"m": r.message_id, "position": n, "track": int(track), "video": video}
                for n, (track, video) in enumerate(r.items, 1)
            ]
            if items:
                await self._execute(
                    "INSERT INTO reply_items (message_id, position, track_id, video_id)"
                    " VALUES (:m, :position, :track, :video)"
                    " ON CONFLICT (message_id, position) DO UPDATE"
                    " SET track_id = excluded.track_id, video_id = excluded.video_id",
                    items,
                )

    async def set_reaction(
        self, user_id: int, message_id: int, reaction: str, present: bool
    ) -> bool:
        """Record a reaction added or removed and re-derive that member's ratings of the
        reply, in one transaction. False if the message is not an earshot reply."""
        key = {"u": user_id, "m": message_id, "r": reaction}
        async with self.transaction():
            reply = await self._one(self._reply_guild, {"m": message_id})
            if not reply:
                return False
            if present:
                await self._execute(
                    "INSERT INTO reactions (user_id, message_id, reaction, created_at)"
                    " VALUES (:u, :m, :r, :at) ON CONFLICT DO NOTHING",
                    {**key, "at": time.time()},
                )
            else:
                await self._execute(
                    "DELETE FROM reactions"
                    " WHERE user_id = :u AND message_id = :m AND reaction = :r",
                    key,
                )
            await self._rederive(user_id, message_id, reply[0])
        return True

    async def recent_replies(self, since: float) -> list[tuple[int, int, int | None]]:
        """(message, channel, guild) of the replies posted since ``since``, newest first."""
        return await self._all(
            "SELECT message_id, channel_id, guild_id FROM replies WHERE created_at >= :since"
            " ORDER BY created_at DESC",
            {"since": since},
        )

    async def replace_reactions(self, message_id: int, by_user: dict[int, set[str]]) -> set[int]:
        """Make the stored reactions on a reply exactly ``by_user`` (what Discord shows
        now), re-deriving the ratings of every member whose reactions changed, in one
        transaction. Returns the members whose reactions changed; nothing counts twice."""
        changed: set[int] = set()
        async with self.transaction():
            reply = await self._one(self._reply_guild, {"m": message_id})
            if not reply:
                return changed
            stored: dict[int, set[str]] = {}
            for user, reaction in await self._all(
                "SELECT user_id, reaction FROM reactions WHERE message_id = :m",
                {"m": message_id},
            ):
                stored.setdefault(user, set()).add(reaction)
            (posted,) = await self._one(
                "SELECT created_at FROM replies WHERE message_id = :m", {"m": message_id}
            )
            forgot = await self._forgotten_since(list(by_user), posted)
            for user in set(stored) | set(by_user):
                now_set = by_user.get(user, set())
                if user in forgot:  # only what they did after asking earshot to forget
                    now_set = now_set & stored.get(user, set())
                if stored.get(user, set()) == now_set:
                    continue
                changed.add(user)
                await self._execute(
                    "DELETE FROM reactions WHERE user_id = :u AND message_id = :m",
                    {"u": user, "m": message_id},
                )
                if now_set:
                    await self._execute(
                        "INSERT INTO reactions (user_id, message_id, reaction, created_at)"
                        " VALUES (:u, :m, :r, :at)",
                        [
                            {"u": user, "m": message_id, "r": r, "at": time.time()}
                            for r in sorted(now_set)
                        ],
                    )
                await self._rederive(user, message_id, reply[0])
        return changed

    async def _forgotten_since(self, users: list[int], posted: float) -> set[int]:
        """Of ``users``, those who asked earshot to forget them after ``posted``."""
        if not users:
            return set()
        rows = await self._all(_FORGOT_AFTER, {"users": users, "posted": posted})
        return {user for (user,) in rows}

    async def _rederive(self, user_id: int, message_id: int, guild_id: int | None) -> None:
        """A member's ratings of one reply, from their reactions on it (in a transaction)."""
        key = {"u": user_id, "m": message_id}
        reactions = {
            r
            for (r,) in await self._all(
                "SELECT reaction FROM reactions WHERE user_id = :u AND message_id = :m", key
            )
        }
        items = await self._all(
            "SELECT position, track_id, video_id FROM reply_items WHERE message_id = :m",
            {"m": message_id},
        )
        wanted = {
            position: (track, video, value)
            for position, track, video in items
            if (value := rating_from_reactions(position, reactions)) != 0
        }
        current = dict(
            await self._all(
                "SELECT position, value FROM ratings WHERE user_id = :u AND message_id = :m",
                key,
            )
        )
        for position in set(current) - set(wanted):
            await self._execute(
                "DELETE FROM ratings WHERE user_id = :u AND message_id = :m AND position = :p",
                {**key, "p": position},
            )
        now = time.time()
        for position, (track, video, value) in wanted.items():
            if current.get(position) == value:
                continue  # unchanged: keeps its original time
            await self._execute(
                "INSERT INTO ratings (user_id, guild_id, message_id, position,"
                " track_id, video_id, value, created_at)"
                " VALUES (:u, :g, :m, :p, :track, :video, :value, :at)"
                " ON CONFLICT (user_id, message_id, position) DO UPDATE"
                " SET guild_id = excluded.guild_id, track_id = excluded.track_id,"
                " video_id = excluded.video_id, value = excluded.value,"
                " created_at = excluded.created_at",
                {
                    **key,
                    "g": guild_id,
                    "p": position,
                    "track": track,
                    "video": video,
                    "value": value,
                    "at": now,
                },
            )

    async def ratings_of(self, user_id: int) -> list[tuple[int, str, int]]:
        """(track id, video id, value) of every rating a member gave, one query."""
        return await self._all(
            "SELECT track_id, video_id, value FROM ratings WHERE user_id = :u", {"u": user_id}
        )

    async def community(
        self,
        guild_id: int | None,
        user_id: int,
        candidates: Sequence[int],
        liked: Sequence[int],
    ) -> Community:
        """Other members' likes and dislikes of the candidates in this server, and how
        many members liked a candidate together with something this member liked."""
        community = Community()
        if not candidates:
            return community
        wanted = [int(t) for t in candidates]
        if guild_id is not None:
            rows = await self._all(
                _COMMUNITY_VOTES, {"g": guild_id, "u": user_id, "candidates": wanted}
            )
            for track, likes, dislikes in rows:
                if likes:
                    community.likes[track] = likes
                if dislikes:
                    community.dislikes[track] = dislikes
        if liked:
            rows = await self._all(
                _CO_LIKES,
                {"liked": [int(t) for t in liked], "u": user_id, "candidates": wanted},
            )
            community.co_likes.update(dict(rows))
        return community

    async def forget_member(self, user_id: int) -> int:
        """Delete every rating and reaction of a member; returns how many ratings went."""
        async with self.transaction():
            (count,) = await self._one(
                "SELECT COUNT(*) FROM ratings WHERE user_id = :u", {"u": user_id}
            )
            await self._execute("DELETE FROM ratings WHERE user_id = :u", {"u": user_id})
            await self._execute("DELETE FROM reactions WHERE user_id = :u", {"u": user_id})
            # Remembered, so that the reactions left on earlier replies (which Discord
            # keeps, and a catch-up reads back) never become ratings again.
            await self._execute(
                "INSERT INTO forgotten (user_id, at) VALUES (:u, :at)"
                " ON CONFLICT (user_id) DO UPDATE SET at = excluded.at",
                {"u": user_id, "at": time.time()},
            )
        return count

    async def count_ratings(self) -> int:
        return (await self._one("SELECT COUNT(*) FROM ratings"))[0]


_COMMUNITY_VOTES = _sql(
    "SELECT track_id, COUNT(DISTINCT CASE WHEN value > 0 THEN user_id END),"
    " COUNT(DISTINCT CASE WHEN value < 0 THEN user_id END) FROM ratings"
    " WHERE guild_id = :g AND user_id != :u AND track_id IN :candidates"
    " GROUP BY track_id",
    "candidates",
)
_CO_LIKES = _sql(
    "SELECT b.track_id, COUNT(DISTINCT b.user_id) FROM ratings a"
    " JOIN ratings b ON b.user_id = a.user_id"
    " WHERE a.track_id IN :liked AND a.value > 0 AND a.user_id != :u"
    " AND b.value > 0 AND b.track_id IN :candidates GROUP BY b.track_id",
    "liked",
    "candidates",
)


_FORGOT_AFTER = _sql(
    "SELECT user_id FROM forgotten WHERE user_id IN :users AND at > :posted", "users"
)
