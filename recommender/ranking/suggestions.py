"""A reply's suggestions: the ranking pipeline for a member, then what YouTube says of the
chosen videos, then what people read. A suggestion found dead gives its place to the next.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np

from ..catalog.store import Store
from ..catalog.verify import FactChecker
from ..config import Settings
from ..index.vector_index import VectorIndex
from ..ratings import MemberRatings
from ..results import Recommendation
from ..video_facts import DEAD, VideoFacts
from .candidates import StoreCandidates
from .pipeline import SearchSettings, suggest
from .presentation import Labels, recommendation, with_facts

FACT_ROUNDS = 3  # rankings at most per reply while chosen videos turn out dead


class Suggester:
    def __init__(self, store: Store, facts: FactChecker, settings: Settings) -> None:
        self.store = store
        self.facts = facts
        self.labels = Labels({})
        self.search = SearchSettings(
            settings.index_overfetch, settings.index_search_k or -1, settings.index_max_groups
        )

    async def suggest(
        self,
        index: VectorIndex,
        frames: np.ndarray,
        known_labels: list[int],
        video_id: str,
        count: int,
        member: int | None = None,
        guild: int | None = None,
        *,
        heard: Sequence[int] = (),
    ) -> tuple[list[Recommendation], dict[str, VideoFacts]]:
        """The ranking pipeline runs in a thread (it touches memory-mapped vectors), and
        the store's answers about each batch of hits come from this event loop. Then the
        chosen videos (and the query's) whose facts are missing or stale are checked.
        ``known_labels`` are a catalog clip's own labels; ``heard``, what the tagger hears
        in the query (both name the reasons)."""
        vector = await asyncio.to_thread(index.query_vector, frames, known_labels)
        ratings = MemberRatings()
        if member is not None:
            ratings = MemberRatings.from_rows(await self.store.ratings_of(member))
        loop, dead = asyncio.get_running_loop(), set[str]()
        for _ in range(FACT_ROUNDS):
            known = StoreCandidates(self.store, loop, ratings, member, guild, dead)
            ranked = await asyncio.to_thread(
                suggest,
                index,
                vector,
                ratings,
                known.describe,
                count=count,
                exclude_video=video_id,
                search=self.search,
            )
            chosen = [known.tracks[r.hit.track_id] for r in ranked]
            asked = [video_id] if video_id else []
            facts = await self.facts.current(asked + [t.video_id for t in chosen])
            found_dead = {v for v, f in facts.items() if f.status in DEAD and v != video_id}
            if not found_dead & {t.video_id for t in chosen}:
                break
            dead |= found_dead
        query_tags = set(self.labels(known_labels)) | set(self.labels(heard))
        items = [
            with_facts(
                recommendation(self.labels, index, vector, r, track, query_tags),
                facts.get(track.video_id),
            )
            for r, track in zip(ranked, chosen, strict=True)
            if track.video_id not in dead
        ]
        return items, facts
