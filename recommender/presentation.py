"""Turning ranked hits and ratings into what people read: label names, reasons, figures."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from .index import VectorIndex
from .links import watch_url
from .ranking import Ranked
from .results import Recommendation, TasteProfile
from .store import Track

SOUNDS_ALIKE = 0.5  # sound similarity from which "sounds alike" is a reason
TASTE_LABELS = 6  # labels shown per side of a member's taste


class Labels:
    """AudioSet class indices to their names (those of the catalog's ontology)."""

    def __init__(self, names: Mapping[int, str]) -> None:
        self._names = dict(names)

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
    shared = [name for name in names if name in query_tags and name != "Music"]
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


def taste_profile(
    labels: Labels, rows: Sequence[tuple[int, str, int]], tracks: Mapping[int, Track]
) -> TasteProfile:
    """Counts, and the labels most common in what a member liked and skipped."""
    liked = [t for t, _, v in rows if v > 0]
    skipped = [t for t, _, v in rows if v < 0]

    def top(ids: list[int]) -> list[str]:
        counts: dict[str, int] = {}
        for track_id in ids:
            track = tracks.get(track_id)
            for name in labels(track.labels if track else ()):
                if name != "Music":
                    counts[name] = counts.get(name, 0) + 1
        return [n for n, _ in sorted(counts.items(), key=lambda kv: -kv[1])[:TASTE_LABELS]]

    return TasteProfile(len(liked), len(skipped), top(liked), top(skipped))
