"""What the store knows about a batch of search hits, for the ranking pipeline.

The pipeline (``ranking.suggest``) runs in a worker thread, since it touches memory-mapped
vectors; the store lives on the event loop. ``StoreCandidates.describe`` is called from
that thread and asks the store on the loop, keeping every track it saw for the reply.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from ..catalog.store import Store, Track
from ..index.vector_index import Hit
from ..ratings import Community, MemberRatings
from ..video_facts import DEAD
from .pipeline import Candidates


class StoreCandidates:
    def __init__(
        self,
        store: Store,
        loop: asyncio.AbstractEventLoop,
        ratings: MemberRatings,
        member: int | None,
        guild: int | None,
        dead: set[str] | None = None,
    ) -> None:
        self.dead = set(dead or ())  # videos found dead now, perhaps not yet in the store
        self.store = store
        self.loop = loop
        self.ratings = ratings
        self.member = member
        self.guild = guild
        self.tracks: dict[int, Track] = {}  # every track described so far

    def describe(self, hits: Sequence[Hit]) -> Candidates:
        """Called from the pipeline's thread; waits for the store's answer on the loop."""
        return asyncio.run_coroutine_threadsafe(self._ask(hits), self.loop).result()

    async def _ask(self, hits: Sequence[Hit]) -> Candidates:
        found = await self.store.tracks_by_ids([h.track_id for h in hits])
        self.tracks.update(found)
        community = Community()
        if self.member is not None:
            community = await self.store.community(
                self.guild, self.member, list(found), self.ratings.liked()
            )
        videos = {t: track.video_id for t, track in found.items()}
        facts = await self.store.facts_of(list(videos.values()))
        dead = self.dead | {v for v, f in facts.items() if f.status in DEAD}
        videos = {t: v for t, v in videos.items() if v not in dead}  # never a dead link
        members_songs = [tr.video_id for tr in found.values() if tr.source == "member"]
        by_video = await self.store.channels(members_songs)  # AudioSet clips have none
        channels = {t: by_video[v] for t, v in videos.items() if v in by_video}
        return Candidates(videos, channels, community)
