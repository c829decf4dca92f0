"""Turning ranked hits and ratings into what people read: label names, reasons, figures."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from ..catalog.store import Track
from ..index.vector_index import VectorIndex
from ..results import Recommendation, TasteProfile
from ..sources.links import watch_url
from ..video_facts import VideoFacts
from .pipeline import Ranked

SOUNDS_ALIKE = 0.5  # sound similarity from which "sounds alike" is a reason
TASTE_LABELS = 6  # labels shown per side of a member's taste


# What a label says about music: genre, instrument, mood, or another part of AudioSet's
# Music subtree (music roles such as "Theme music"). "Speech", room acoustics ("Inside,
# small room") and sound effects are not, however often AudioSet gave them to a clip.
MUSICAL_KINDS = frozenset({"genre", "instrument", "mood", "music"})
TOO_GENERAL = frozenset({"Music"})  # true of every clip in the catalog


class Labels:
    """AudioSet class indices to the names of those that describe music."""

    def __init__(self, names: Mapping[int, str], kinds: Mapping[int, str] | None = None) -> None:
        self._names = {
            i: name
            for i, name in names.items()
            if (kinds is None or kinds.get(i) in MUSICAL_KINDS) and name not in TOO_GENERAL
        }

    def __call__(self, labels: Iterable[int]) -> list[str]:
        return [self._names[i] for i in labels if i in self._names]


def recommendation(
    labels: Labels,
    index: VectorIndex,
    query: np.ndarray,
    ranked: Ranked,
    track: Track,
    query_tags: set[str],
) -> Recommendation:
    """One suggestion as shown: link at the clip's moment, labels, figures, reasons."""
    hit = ranked.hit
    sound = index.sound_similarity(hit, query)
    names = labels(track.labels)
    shared = [name for name in names if name in query_tags]
    reasons = [", ".join(shared[:3]).lower()] if shared else []
    if sound >= SOUNDS_ALIKE:
        reasons.append("sounds alike")
    reasons.extend(ranked.reasons)
    return Recommendation(
        track.id,
        track.video_id,
        track.start_s,
        watch_url(track.video_id, track.start_s),
        names,
        round(hit.score, 4),
        round(sound, 4),
        round(max(0.0, index.cosine(hit, query)), 4),
        reasons,
    )


def with_facts(item: Recommendation, facts: VideoFacts | None) -> Recommendation:
    """A suggestion with its video's title and channel, if YouTube told them."""
    if facts is None or not facts.playable:
        return item
    return dataclasses.replace(item, title=facts.title, channel=facts.channel, live=True)


def taste_profile(
    labels: Labels, rows: Sequence[tuple[int, str, int]], tracks: Mapping[int, Track]
) -> TasteProfile:
    """Counts, and the labels a member leans toward and away from: a label counts once
    per rated suggestion, and goes on the side where it was rated more often (a label
    liked as often as skipped says nothing, and appears on neither side)."""
    lean: dict[str, int] = {}
    for track_id, _, value in rows:
        track = tracks.get(track_id)
        for name in set(labels(track.labels if track else ())):
            lean[name] = lean.get(name, 0) + (1 if value > 0 else -1)
    liked = sum(1 for _, _, v in rows if v > 0)
    ordered = sorted(lean.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
    likes = [name for name, n in ordered if n > 0][:TASTE_LABELS]
    skips = [name for name, n in ordered if n < 0][:TASTE_LABELS]
    return TasteProfile(liked, len(rows) - liked, likes, skips)
