"""Ranking: the audio neighbours of a query, ordered for one member in one server.

``suggest`` is the one pipeline that serving, the evaluation and the benchmarks all run:
steer the query by the member's taste, over-fetch from the index, re-rank, and widen the
search when filters leave too few.

- Taste: how likely each label is one the member likes, from their ratings (Bayes: a
  like of an item with the label is evidence for it, a dislike against it, any one
  rating may be a slip, and a like a surer label explains says little of its item's
  other labels) steers the query's tags (Rocchio). Only what the ratings raised above
  chance steers, so the taste firms up with evidence by itself; the pull falls as the
  member already likes more of what comes, so the song asked about keeps its place:
  measured in ``simulation`` and the README.
- A suggestion other members of the server liked is lifted; a newcomer's first
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

from ..index.vector_index import MAX_GROUPS, Hit, VectorIndex
from ..index.vectors import SOUND_DIMS
from ..ratings import Community, MemberRatings

STEER_WEIGHT = 1.15  # a label sure to be liked adds this share of the query's length
UNMET_POWER = 2.0  # steering falls as (1 - share of ratings that are explained likes) ** this
# The pull is shared among the labels it points to: scaled by (its largest part / its
# length) ** this, so several favourites (or one with the labels riding along with it)
# move the query no further in all than one sure favourite does.
SHARED_PULL_POWER = 2.0
TASTE_PRIOR = 0.05  # the chance that a label is a favourite, before any rating
RATING_SLIP = 0.1  # the chance that one rating goes against the member's taste
LURKER_LIKE_RATE = 0.5  # the like rate assumed for a member who never dislikes
SERVER_SINK = 0.5  # score lost per member of the server who disliked a suggestion
SERVER_SINK_FROM = 2  # dislikes from at least this many members before it sinks
CO_LIKE_BOOST = 0.15
SERVER_LIFT = 0.6  # per log(1 + members here who liked it), as a share of the query's tags
NEAR_DUPLICATE = 0.995
CHANNEL_CAP = 2


@dataclass(frozen=True)
class Ranked:
    hit: Hit
    score: float
    reasons: tuple[str, ...]


def unmet(explained: float, likes: int, dislikes: int) -> float:
    """How much of a member's taste is still unmet, 1 to 0: a member who already likes
    much of what earshot suggests needs less steering, and loses less of the song asked
    about. Only likes their favourites explain count (a stray like is not a taste met).
    Without dislikes (members who only ever like), there is no share to go by."""
    if not dislikes:
        return 1.0
    return (1.0 - min(explained, likes) / (likes + dislikes)) ** UNMET_POWER


def favourite_labels(liked: np.ndarray, disliked: np.ndarray) -> np.ndarray:
    """Per label (rows: the tag blocks of liked and disliked items), the chance that the
    member likes items that carry it. A like is evidence for the labels of its item and
    a skip against them, weighed by how often the member likes anything; RATING_SLIP
    keeps one stray rating from settling a label either way. An item liked for one label
    carries others by chance, so a like that a surer label already explains counts that
    much less for the rest (explaining away)."""
    likes, dislikes = len(liked), len(disliked)
    rate = likes / (likes + dislikes) if dislikes else LURKER_LIKE_RATE
    rate = min(max(rate, 0.02), 0.9)
    per_like = np.log((1 - RATING_SLIP) / rate)
    base = np.full(liked.shape[1], np.log(TASTE_PRIOR / (1 - TASTE_PRIOR)))
    if dislikes:
        base += disliked.sum(0) * np.log(RATING_SLIP / (1 - rate))
    first = _sigmoid(base + liked.sum(0) * per_like)
    unexplained = np.ones(likes)
    counts = np.zeros(liked.shape[1])
    for label in sorted(np.flatnonzero(liked.sum(0)), key=lambda x: -first[x]):
        counts[label] = float(liked[:, label] @ unexplained)
        unexplained *= 1 - liked[:, label] * first[label]
    return _sigmoid(base + counts * per_like)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class Taste:
    """What a member's ratings say, in the index's space."""

    pull: np.ndarray  # over the tag block, how far the ratings raised each label's chance
    # of being a favourite above TASTE_PRIOR (zero over the sound block)
    explained: float  # likes that their favourites explain (the rest may be slips)


def read_taste(index: VectorIndex, ratings: MemberRatings) -> Taste | None:
    """A member's taste from their ratings; None until they have liked something."""
    liked = index.vectors_of(ratings.liked())
    if not len(liked):
        return None
    disliked = index.vectors_of(ratings.disliked())
    tags = liked[:, SOUND_DIMS:]
    favourite = favourite_labels(tags, disliked[:, SOUND_DIMS:])
    pull = np.zeros(index.dim, dtype=np.float32)
    pull[SOUND_DIMS:] = favourite - TASTE_PRIOR
    largest, length = float(pull.max()), float(np.linalg.norm(pull))
    if largest > 0:
        pull *= (largest / length) ** SHARED_PULL_POWER
    explained = float((1 - np.prod(1 - np.clip(tags, 0, 1) * favourite, axis=1)).sum())
    return Taste(pull, explained)


def steer(index: VectorIndex, query: np.ndarray, ratings: MemberRatings) -> np.ndarray:
    """The query moved toward the member's taste; unchanged without a like."""
    taste = read_taste(index, ratings)
    if taste is None or STEER_WEIGHT <= 0:
        return query
    likes, dislikes = len(ratings.liked()), len(ratings.disliked())
    strength = STEER_WEIGHT * unmet(taste.explained, likes, dislikes)
    return (query + strength * float(np.linalg.norm(query)) * taste.pull).astype(np.float32)


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
