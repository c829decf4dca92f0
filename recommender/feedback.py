"""Ratings into recommendations: a member's taste, the server's signal, diversity, reasons.

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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .index import Hit, VectorIndex

TASTE_WEIGHT = 0.6  # at full strength, the taste adds this share of the query's length
TASTE_FULL_AT = 30  # ratings for full strength
DISLIKE_SHARE = 0.5
SERVER_SINK = 0.5  # score lost per member of the server who disliked a suggestion
SERVER_SINK_FROM = 2  # dislikes from at least this many members before it sinks
CO_LIKE_BOOST = 0.15
NEAR_DUPLICATE = 0.995
CHANNEL_CAP = 2


@dataclass
class MemberRatings:
    """One member's ratings: track id -> +1 or -1, and the videos behind them."""

    values: dict[int, int] = field(default_factory=dict)
    videos: dict[int, str] = field(default_factory=dict)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[int, str, int]]) -> MemberRatings:
        ratings = cls()
        for track, video, value in rows:
            ratings.values[track] = value
            ratings.videos[track] = video
        return ratings

    def liked(self) -> list[int]:
        return [t for t, v in self.values.items() if v > 0]

    def disliked(self) -> list[int]:
        return [t for t, v in self.values.items() if v < 0]

    def disliked_videos(self) -> set[str]:
        return {self.videos[t] for t in self.disliked() if t in self.videos}

    def __len__(self) -> int:
        return len(self.values)


@dataclass
class Community:
    """What other members of the server said about the candidates."""

    likes: dict[int, int] = field(default_factory=dict)  # track -> members who liked it
    dislikes: dict[int, int] = field(default_factory=dict)
    co_likes: dict[int, int] = field(default_factory=dict)  # liked with this member's likes


@dataclass(frozen=True)
class Ranked:
    hit: Hit
    score: float
    reasons: tuple[str, ...]


def positions(index: VectorIndex, track_ids: Sequence[int]) -> np.ndarray:
    """Rows of ``track_ids`` in the index; -1 where absent."""
    return index.positions_of(list(track_ids))


def taste_vector(index: VectorIndex, ratings: MemberRatings) -> np.ndarray | None:
    """Mean of liked vectors minus DISLIKE_SHARE x mean of disliked ones, unit length."""
    liked = positions(index, ratings.liked())
    disliked = positions(index, ratings.disliked())
    liked, disliked = liked[liked >= 0], disliked[disliked >= 0]
    if not len(liked) and not len(disliked):
        return None
    taste = np.zeros(index.vectors.shape[1], dtype=np.float32)
    if len(liked):
        taste += np.asarray(index.vectors[np.sort(liked)]).mean(0)
    if len(disliked):
        taste -= DISLIKE_SHARE * np.asarray(index.vectors[np.sort(disliked)]).mean(0)
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
        vector = np.asarray(index.vectors[hit.position])
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
