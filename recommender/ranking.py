"""Ranking: the audio neighbours of a query, ordered for one member in one server.

``suggest`` is the one pipeline that serving, the evaluation and the benchmarks all run:
steer the query by the member's taste, over-fetch from the index, re-rank, and widen the
search when filters leave too few.

- Taste: the vectors of what a member liked, minus half of what they disliked, steer the
  query (Rocchio). Its weight grows with the number of ratings up to a cap, relative to
  the query's own length, so a few ratings never swamp the song asked about.
- A suggestion a member disliked is never shown to that member again; one that several
  members of a server disliked sinks for that server.
- Collaborative: members who liked what this member liked, and liked a candidate too,
  lift that candidate ("liked together").
- Diversity: never the query, one clip per video, a cap per channel where known, and
  near-duplicates (almost the same vector) collapsed.
A member with no ratings, in a server with none, gets the plain audio ranking.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .index import MAX_GROUPS, Hit, VectorIndex
from .ratings import Community, MemberRatings

TASTE_WEIGHT = 0.6  # at full strength, the taste adds this share of the query's length
TASTE_FULL_AT = 30  # ratings for full strength
DISLIKE_SHARE = 0.5
SERVER_SINK = 0.5  # score lost per member of the server who disliked a suggestion
SERVER_SINK_FROM = 2  # dislikes from at least this many members before it sinks
CO_LIKE_BOOST = 0.15
NEAR_DUPLICATE = 0.995
CHANNEL_CAP = 2


@dataclass(frozen=True)
class Ranked:
    hit: Hit
    score: float
    reasons: tuple[str, ...]


def taste_vector(index: VectorIndex, ratings: MemberRatings) -> np.ndarray | None:
    """Mean of liked vectors minus DISLIKE_SHARE x mean of disliked ones, unit length."""
    liked = index.vectors_of(ratings.liked())
    disliked = index.vectors_of(ratings.disliked())
    if not len(liked) and not len(disliked):
        return None
    taste = np.zeros(index.dim, dtype=np.float32)
    if len(liked):
        taste += liked.mean(0)
    if len(disliked):
        taste -= DISLIKE_SHARE * disliked.mean(0)
    norm = float(np.linalg.norm(taste))
    return taste / norm if norm > 1e-9 else None


def steer(index: VectorIndex, query: np.ndarray, ratings: MemberRatings) -> np.ndarray:
    """The query moved toward the member's taste; unchanged without ratings."""
    taste = taste_vector(index, ratings)
    if taste is None:
        return query
    strength = TASTE_WEIGHT * min(1.0, len(ratings) / TASTE_FULL_AT)
    return (query + strength * float(np.linalg.norm(query)) * taste).astype(np.float32)


def rerank(
    index: VectorIndex,
    query: np.ndarray,
    hits: Sequence[Hit],
    ratings: MemberRatings,
    community: Community,
    *,
    videos: dict[int, str],
    channels: dict[int, str] | None = None,
    exclude_video: str = "",
    count: int,
) -> list[Ranked]:
    """Order candidates for one member: filters, server signal, diversity, reasons."""
    disliked = set(ratings.disliked())
    disliked_videos = ratings.disliked_videos()
    scored: list[tuple[float, Hit, list[str]]] = []
    for hit in hits:
        video = videos.get(hit.track_id)
        if video is None or video == exclude_video:
            continue
        if hit.track_id in disliked or video in disliked_videos:
            continue  # never again for this member
        score = hit.score
        reasons: list[str] = []
        against = community.dislikes.get(hit.track_id, 0)
        if against >= SERVER_SINK_FROM:
            score -= SERVER_SINK * against
        co = community.co_likes.get(hit.track_id, 0)
        if co:
            score += CO_LIKE_BOOST * float(np.log1p(co))
            reasons.append(f"liked with your likes by {co} member{'s' * (co > 1)}")
        liked_here = community.likes.get(hit.track_id, 0)
        if liked_here:
            reasons.append(f"liked by {liked_here} member{'s' * (liked_here > 1)} here")
        scored.append((score, hit, reasons))
    scored.sort(key=lambda s: -s[0])

    chosen: list[Ranked] = []
    chosen_vectors: list[np.ndarray] = []
    seen_videos: set[str] = set()
    per_channel: dict[str, int] = {}
    for score, hit, reasons in scored:
        video = videos[hit.track_id]
        if video in seen_videos:
            continue
        channel = (channels or {}).get(hit.track_id)
        if channel and per_channel.get(channel, 0) >= CHANNEL_CAP:
            continue
        vector = index.vector_of(hit)
        unit = vector / max(float(np.linalg.norm(vector)), 1e-9)
        if any(float(unit @ other) > NEAR_DUPLICATE for other in chosen_vectors):
            continue
        seen_videos.add(video)
        if channel:
            per_channel[channel] = per_channel.get(channel, 0) + 1
        chosen_vectors.append(unit)
        chosen.append(Ranked(hit, score, tuple(reasons)))
        if len(chosen) == count:
            break
    return chosen


@dataclass(frozen=True)
class Candidates:
    """What the ranking needs to know about a batch of hits, from wherever it is kept."""

    videos: dict[int, str]  # track -> its video; a track missing here is dropped
    channels: dict[int, str] = field(default_factory=dict)  # track -> channel, where known
    community: Community = field(default_factory=Community)


@dataclass(frozen=True)
class SearchSettings:
    overfetch: int = 20  # Annoy candidates per wanted result, re-ranked exactly
    search_k: int = -1  # Annoy nodes inspected; -1: Annoy's default
    max_groups: int = MAX_GROUPS  # chunks visited before the sound index answers


def suggest(
    index: VectorIndex,
    query: np.ndarray,
    ratings: MemberRatings,
    describe: Callable[[Sequence[Hit]], Candidates],
    *,
    count: int,
    exclude_video: str = "",
    search: SearchSettings = SearchSettings(),
    accept: Callable[[int], bool] | None = None,
) -> list[Ranked]:
    """The ``count`` best suggestions for ``query``, for the member behind ``ratings``.

    ``describe`` tells the videos, channels and server signal of each batch of hits (the
    engine asks the store; the evaluation knows its catalog). A member with no ratings,
    in a server with none, gets the plain audio ranking.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    steered = steer(index, query, ratings)
    want = count * 3 + 10 + len(ratings.disliked())
    while True:
        hits = index.search(
            steered,
            want,
            overfetch=search.overfetch,
            search_k=search.search_k,
            max_groups=search.max_groups,
            accept=accept,
        )
        candidates = describe(hits)
        ranked = rerank(
            index,
            steered,
            hits,
            ratings,
            candidates.community,
            videos=candidates.videos,
            channels=candidates.channels,
            exclude_video=exclude_video,
            count=count,
        )
        if len(ranked) == count or len(hits) < want or want >= len(index):
            return ranked
        want *= 4
