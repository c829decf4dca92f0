"""The description protocol (/discover), on the same catalog and index as ``evaluate``:

- **A label**: for each specific label that 20 or more catalog clips carry, the share of
  the top 10 for that label alone that carry it (P@10), beside the share of the catalog
  that does (the chance rate a random clip would have).
- **A pair**: for each pair of specific labels that 20 or more clips carry together, the
  share of the top 10 that carry both, beside the chance rate of the pair.
- **Steering from a song** (``like``): for query clips (their frames only, as in
  ``evaluate``), a described label they do not carry is drawn; the plain answer and the
  steered one are compared on the share of the top 10 that share a label with the song
  (what the answer keeps of the song) and the share that carry the described label.

Each on two catalogs of the same clips: **labelled** (items carry their AudioSet labels,
as the catalog the bot serves does) and **heard** (every item's tags are the tagger's,
its labels hidden, as for members' songs: how well a description finds a sound no one
labelled).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..index.reader import VectorIndex
from ..index.vectors import STEER_STRENGTH, LabelProfile, VectorSpace

K = 10
MIN_CLIPS = 20
STEER_QUERIES = 400


def _top(index: VectorIndex, vector: np.ndarray, exclude: int = -1) -> np.ndarray:
    hits = index.search(vector, K, accept=lambda track: track != exclude)
    return np.array([h.track_id for h in hits], dtype=np.int64)


def _summary(shares: list[float], chances: list[float]) -> dict:
    values = np.asarray(shares, dtype=np.float64)
    return {
        "cases": len(values),
        "p_at_10": round(float(values.mean()), 4) if len(values) else None,
        "p_at_10_se": round(float(values.std(ddof=1) / np.sqrt(len(values))), 4)
        if len(values) > 1
        else None,
        "min_p_at_10": round(float(values.min()), 4) if len(values) else None,
        "chance": round(float(np.mean(chances)), 4) if chances else None,
    }


def describe_protocol(
    index: VectorIndex,
    space: VectorSpace,
    frames: Sequence[np.ndarray],
    specific: np.ndarray,
    labels: Sequence[int],
    kinds: dict[int, str],
    *,
    profile: LabelProfile | None = None,
    strength: float = STEER_STRENGTH,
    seed: int = 0,
) -> dict:
    """``specific``: the catalog's clips (rows, in track-id order) by specific label
    (columns, ``labels``); ``kinds``: each label's kind (genre, instrument, mood).
    ``profile``: where the labels' typical sounds come from (default: ``index``'s own
    labelled items; for an index of heard tags only, a labelled catalog's)."""
    profile = profile or index.label_profile()

    def described(wanted: list[int]) -> np.ndarray:
        return space.described(wanted, profile.sound_of(wanted))

    def steered(query: np.ndarray, wanted: list[int]) -> np.ndarray:
        return space.steered(query, wanted, profile.sound_of(wanted), strength)

    n = len(specific)
    counts = specific.sum(axis=0)
    singles = [j for j in range(len(labels)) if counts[j] >= MIN_CLIPS]
    report: dict = {"min_clips": MIN_CLIPS, "labels": {}, "by_kind": {}}
    shares, chances, by_kind = [], [], {}
    for j in singles:
        top = _top(index, described([labels[j]]))
        share = float(specific[top, j].mean()) if len(top) else 0.0
        shares.append(share)
        chances.append(counts[j] / n)
        by_kind.setdefault(kinds.get(labels[j], "other"), ([], []))
        by_kind[kinds.get(labels[j], "other")][0].append(share)
        by_kind[kinds.get(labels[j], "other")][1].append(counts[j] / n)
    report["labels"] = _summary(shares, chances)
    report["by_kind"] = {kind: _summary(s, c) for kind, (s, c) in sorted(by_kind.items())}

    together = specific.T.astype(np.int64) @ specific.astype(np.int64)
    pairs = [
        (a, b)
        for a in range(len(labels))
        for b in range(a + 1, len(labels))
        if together[a, b] >= MIN_CLIPS
    ]
    pair_shares, pair_chances = [], []
    for a, b in pairs:
        top = _top(index, described([labels[a], labels[b]]))
        both = specific[top, a] & specific[top, b]
        pair_shares.append(float(both.mean()) if len(top) else 0.0)
        pair_chances.append(together[a, b] / n)
    report["pairs"] = _summary(pair_shares, pair_chances)

    rng = np.random.default_rng(seed)
    with_labels = [i for i in range(n) if specific[i].any()]
    queries = rng.choice(with_labels, size=min(STEER_QUERIES, len(with_labels)), replace=False)
    kept_plain, kept_steered, described_plain, described_steered = [], [], [], []
    for q in queries:
        absent = [j for j in singles if not specific[q, j]]
        if not absent:
            continue
        j = int(rng.choice(absent))
        query = space.query_vector(frames[q])
        plain = _top(index, query, exclude=int(q))
        moved = _top(index, steered(query, [labels[j]]), exclude=int(q))
        kept_plain.append(float((specific[plain] & specific[q]).any(axis=1).mean()))
        kept_steered.append(float((specific[moved] & specific[q]).any(axis=1).mean()))
        described_plain.append(float(specific[plain, j].mean()))
        described_steered.append(float(specific[moved, j].mean()))
    own_plain, own_steered = float(np.mean(kept_plain)), float(np.mean(kept_steered))
    said_plain, said_steered = float(np.mean(described_plain)), float(np.mean(described_steered))

    def se(values: list[float]) -> float:
        return round(float(np.std(values, ddof=1) / np.sqrt(len(values))), 4)

    report["like"] = {
        "queries": len(kept_plain),
        "strength": strength,
        "own_labels_p_at_10": {"plain": round(own_plain, 4), "steered": round(own_steered, 4)},
        # Over queries, of the steered answer minus half the plain one (kept) and of the
        # steered share minus twice the plain one (lift): the margins the targets have.
        "kept_margin_se": se(list(np.subtract(kept_steered, np.multiply(0.5, kept_plain)))),
        "lift_margin_se": se(
            list(np.subtract(described_steered, np.multiply(2.0, described_plain)))
        ),
        "kept_share": round(own_steered / own_plain, 4) if own_plain else None,
        "described_label_share": {
            "plain": round(said_plain, 4),
            "steered": round(said_steered, 4),
        },
        "described_lift": round(said_steered / said_plain, 2) if said_plain else None,
    }
    return report
