"""What YouTube says of the catalog's videos (oEmbed): which play, their titles."""

from __future__ import annotations

from collections.abc import (
    Iterable,
    Sequence,
)
from typing import TYPE_CHECKING

from ..video_facts import Status, VideoFacts

if TYPE_CHECKING:
    pass

from .connection import StoreCore
from .rows import _sql


class FactsTable(StoreCore):
    # --- what YouTube says of the videos (oEmbed) -------------------------------------

    async def save_facts(self, facts: Iterable[VideoFacts]) -> None:
        rows = [
            {
                "video_id": f.video_id,
                "status": str(f.status),
                "title": f.title,
                "channel": f.channel,
                "at": f.checked_at,
            }
            for f in facts
        ]
        if not rows:
            return
        async with self.transaction():
            await self._execute(
                "INSERT INTO video_facts (video_id, status, title, channel, checked_at)"
                " VALUES (:video_id, :status, :title, :channel, :at)"
                " ON CONFLICT (video_id) DO UPDATE SET status = excluded.status,"
                " title = excluded.title, channel = excluded.channel,"
                " checked_at = excluded.checked_at",
                rows,
            )

    async def facts_of(self, video_ids: Sequence[str]) -> dict[str, VideoFacts]:
        found: dict[str, VideoFacts] = {}
        unique = list(dict.fromkeys(video_ids))
        for first in range(0, len(unique), 500):
            part = unique[first : first + 500]
            for video, status, title, channel, at in await self._all(_FACTS_OF, {"ids": part}):
                found[video] = VideoFacts(video, Status(status), title, channel, at)
        return found

    async def videos_never_checked(self, after: str, limit: int) -> list[str]:
        """Catalog videos with no facts yet, in id order after ``after`` (a keyset cursor:
        each batch of a sweep starts where the last ended, on the tracks index)."""
        rows = await self._all(
            "SELECT DISTINCT t.video_id FROM tracks t WHERE t.video_id > :after"
            " AND NOT EXISTS (SELECT 1 FROM video_facts f WHERE f.video_id = t.video_id)"
            " ORDER BY t.video_id LIMIT :n",
            {"after": after, "n": limit},
        )
        return [v for (v,) in rows]

    async def videos_checked_before(self, stale_before: float, limit: int) -> list[str]:
        """Videos whose facts are older than ``stale_before``, oldest first."""
        rows = await self._all(
            "SELECT video_id FROM video_facts WHERE checked_at < :before"
            " ORDER BY checked_at LIMIT :n",
            {"before": stale_before, "n": limit},
        )
        return [v for (v,) in rows]

    async def count_to_verify(self, stale_before: float) -> int:
        never = await self._one(
            "SELECT COUNT(DISTINCT t.video_id) FROM tracks t LEFT JOIN video_facts f"
            " ON f.video_id = t.video_id WHERE f.video_id IS NULL"
        )
        stale = await self._one(
            "SELECT COUNT(*) FROM video_facts WHERE checked_at < :before",
            {"before": stale_before},
        )
        return never[0] + stale[0]

    async def verification_counts(self) -> dict[str, int]:
        """Catalog videos by what YouTube last said of them ("unchecked" for the rest)."""
        rows = await self._all(
            "SELECT COALESCE(f.status, 'unchecked'), COUNT(*) FROM"
            " (SELECT DISTINCT video_id FROM tracks) t"
            " LEFT JOIN video_facts f ON f.video_id = t.video_id GROUP BY 1"
        )
        counts = {"live": 0, "restricted": 0, "gone": 0, "unchecked": 0}
        counts.update(dict(rows))
        return counts

    async def count_embeddings(self) -> int:
        return (await self._one("SELECT COUNT(*) FROM embeddings"))[0]


_FACTS_OF = _sql(
    "SELECT video_id, status, title, channel, checked_at FROM video_facts WHERE video_id IN :ids",
    "ids",
)
