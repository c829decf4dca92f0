"""Ranking: the audio neighbours of a query, ordered for one member in one server.

``suggest`` is the one pipeline that serving, the evaluation and the benchmarks all run:
steer the query by the member's taste, over-fetch from the index, re-rank, and widen the
search when filters leave too few.

- Taste: the labels of what a member liked (less a label met only by chance, less half
  of what they skipped) and the sound of what they liked steer the query (Rocchio). Its
  weight, relative to the query's own length, grows with the evidence (a like counts five
  times, since likes are rare) and falls as the member already likes more of what comes,
  so the song asked about keeps its place: measured in ``simulation`` and the README.
- A suggestion other members of the server liked is lifted a little; a newcomer's first
  suggestions lean toward the server's taste.
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
from .vectors import SOUND_DIMS

STEER_WEIGHT = 0.64  # at full strength, the taste adds this share of the query's length
TASTE_FULL_AT = 20  # ratings for full strength
LIKE_EVIDENCE = 5.0  # a like counts as this many ratings toward full strength
UNMET_POWER = 1.4  # steering falls as (1 - share of ratings that are likes) ** this
DISLIKE_SHARE = 0.5
LABEL_SHRINK = 0.25  # a label's count in what was liked, less this (chance, not taste)
SERVER_SINK = 0.5  # score lost per member of the server who disliked a suggestion
SERVER_SINK_FROM = 2  # dislikes from at least this many members before it sinks
CO_LIKE_BOOST = 0.15
SERVER_LIFT = 0.1  # per log(1 + members here who liked it), as a share of the query's tags
NEAR_DUPLICATE = 0.995
CHANNEL_CAP = 2


@dataclass(frozen=True)
class Ranked:
    hit: Hit
    score: float
    reasons: tuple[str, ...]


def unmet(likes: int, dislikes: int) -> float:
    """How much of a member's taste is still unmet, 1 to 0: a member who already likes
    much of what earshot suggests needs less steering, and loses less of the song asked
    about. Without dislikes (members who only ever like), there is no share to go by."""
    if not dislikes:
        return 1.0
    return (1.0 - likes / (likes + dislikes)) ** UNMET_POWER


def taste_vector(index: VectorIndex, ratings: MemberRatings) -> np.ndarray | None:
    """Where a member's ratings point, unit length: over the tag block, how many liked
    suggestions carried each label, less one (a label met once is as likely chance as
    taste) and less DISLIKE_SHARE of its share among the skipped; over the sound block,
    the mean sound of what they liked."""
    liked = index.vectors_of(ratings.liked())
    disliked = index.vectors_of(ratings.disliked())
    if not len(liked) and not len(disliked):
        return None
    taste = np.zeros(index.dim, dtype=np.float32)
    if len(liked):
        counts = liked[:, SOUND_DIMS:].sum(0)
        taste[SOUND_DIMS:] = np.maximum(counts - LABEL_SHRINK, 0.0) / len(liked)
        taste[:SOUND_DIMS] = liked[:, :SOUND_DIMS].mean(0)
    if len(disliked):
        taste[SOUND_DIMS:] -= DISLIKE_SHARE * disliked[:, SOUND_DIMS:].mean(0)
    norm = float(np.linalg.norm(taste))
    return taste / norm if norm > 1e-9 else None


def steer(index: VectorIndex, query: np.ndarray, ratings: MemberRatings) -> np.ndarray:
    """The query moved toward the member's taste; unchanged without ratings."""
    taste = taste_vector(index, ratings)
    if taste is None or STEER_WEIGHT <= 0:
        return query
    likes, dislikes = len(ratings.liked()), len(ratings.disliked())
    evidence = LIKE_EVIDENCE * likes + dislikes
    strength = STEER_WEIGHT * min(1.0, evidence / TASTE_FULL_AT)
    strength *= unmet(likes, dislikes)
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
    """Order candidates for one member: filters, taste, server signal, diversity, reasons."""
    disliked = set(ratings.disliked())
    tags_norm = float(np.linalg.norm(query[SOUND_DIMS:]))
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
            score += SERVER_LIFT * tags_norm * float(np.log1p(liked_here))
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
