"""A reply's suggestions: the ranking pipeline for a member, then what YouTube says of the
chosen videos, then what people read. A suggestion found dead gives its place to the next,
round after round, until the count asked for is met, the catalog has no more matches, or
the reply's time for checks is spent; a shorter answer says which.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np

from ..catalog.songs import SONG_SOURCE
from ..catalog.store import Store
from ..catalog.verify import FactChecker
from ..config import Settings
from ..index.vector_index import VectorIndex
from ..ratings import MemberRatings
from ..results import Recommendation
from ..video_facts import DEAD, VideoFacts
from .candidates import StoreCandidates
from .pipeline import Ranked, SearchSettings, suggest
from .presentation import Labels, recommendation, with_facts, with_song
from .songs_first import songs_first

CHECKS_BUDGET_S = 6.0  # how long one reply may spend replacing suggestions found dead
NO_MORE_MATCHES = "the catalog has no more matches for this song that you have not ruled out"
OUT_OF_TIME = "YouTube did not confirm enough of the others as playable in time"
NO_SONGS = "this server has no songs of its own to suggest yet"


class Suggester:
    def __init__(self, store: Store, facts: FactChecker, settings: Settings) -> None:
        self.store = store
        self.facts = facts
        self.labels = Labels({})
        self.search = SearchSettings(
            settings.index_overfetch, settings.index_search_k or -1, settings.index_max_groups
        )
        self.suggest_from = settings.suggest_from
        self._songs: tuple[VectorIndex | None, frozenset[int]] = (None, frozenset())

    async def _song_ids(self, index: VectorIndex) -> frozenset[int]:
        """The server's songs among the tracks, read again when the served index changes
        (a song joins the index at a reindex)."""
        if self._songs[0] is not index:
            self._songs = (index, await self.store.song_track_ids())
        return self._songs[1]

    async def suggest(
        self,
        index: VectorIndex,
        vector: np.ndarray,
        video_id: str,
        count: int,
        member: int | None = None,
        guild: int | None = None,
    ) -> tuple[list[Recommendation], dict[str, VideoFacts], str]:
        """The ranking pipeline runs in a thread (it touches memory-mapped vectors), and
        the store's answers about each batch of hits come from this event loop. Then the
        chosen videos (and the query's) whose facts are missing or stale are checked.
        ``vector``: the search point (a song's ``index.query_vector``, a description's
        ``index.describe``); ``video_id``: the song asked about ('' for none)."""
        ratings = MemberRatings()
        if member is not None:
            ratings = MemberRatings.from_rows(await self.store.ratings_of(member))
        loop, dead = asyncio.get_running_loop(), set[str]()
        started, extra = loop.time(), 0
        songs = await self._song_ids(index) if self.suggest_from != "everything" else frozenset()
        if self.suggest_from == "songs-only" and not songs:
            return [], {}, NO_SONGS
        while True:
            known = StoreCandidates(self.store, loop, ratings, member, guild, dead)

            def rank(n: int, known: StoreCandidates = known) -> list[Ranked]:
                def ranking(accept: Callable[[int], bool] | None = None) -> list[Ranked]:
                    return suggest(
                        index, vector, ratings, known.describe, count=n,
                        exclude_video=video_id, search=self.search, accept=accept,
                    )  # fmt: skip

                if not songs:
                    return ranking()
                own = ranking(songs.__contains__)
                if self.suggest_from == "songs-only":
                    return own
                return songs_first(own, ranking(), songs.__contains__, n)

            ranked = await asyncio.to_thread(rank, count + extra)
            chosen = [known.tracks[r.hit.track_id] for r in ranked]
            asked = [video_id] if video_id else []
            facts = await self.facts.current(asked + [t.video_id for t in chosen])
            found_dead = {
                t.video_id
                for t in chosen
                if t.video_id in facts and facts[t.video_id].status in DEAD
            }
            dead |= found_dead
            live = len(chosen) - len(found_dead)  # dead ones were left out of this ranking
            exhausted = len(ranked) < count + extra
            if live >= count or exhausted or not found_dead:
                break
            if loop.time() - started > CHECKS_BUDGET_S:
                break
            # The dead no longer take places; ask for a margin as large as the loss.
            extra = len(found_dead)
        shortfall = ""
        if live < count:
            shortfall = NO_MORE_MATCHES if exhausted else OUT_OF_TIME
        songs = await self.store.songs_of([t.video_id for t in chosen if t.source == SONG_SOURCE])
        items = [
            with_song(
                with_facts(
                    recommendation(self.labels, index, vector, r, track),
                    facts.get(track.video_id),
                ),
                songs.get(track.video_id),
            )
            for r, track in zip(ranked, chosen, strict=True)
            if track.video_id not in dead
        ][:count]
        return items, facts, shortfall
