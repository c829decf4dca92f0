"""The sound block's projection, learned from the labelled catalog (numpy only).

A clip's sound is the mean of its dequantized frames, centred. Cosine on that raw mean is
dominated by whatever varies most between clips, loudness and recording among it, not by
what tells genres and instruments apart. A linear discriminant (multi-label: every clip
counts once for each label it carries) keeps the mean's 128 dimensions but measures them
in the labels' terms: the within-label scatter is whitened (shrunk toward its average
variance, so rare directions are not blown up), and the directions that separate labels
are weighed by their separation to the power ``POWER``. Measured on both halves of the
shared sample (sound-only P@10, README, Quality) against the centred mean, and against
whitening only and other shrinkages, ranks and powers; these won.
"""

from __future__ import annotations

import numpy as np

SHRINK = 1.0  # the within-label scatter plus this times its mean variance, on the diagonal
POWER = 0.25  # a direction's weight: (between / within separation) ** POWER
MIN_CLIPS = 2  # a label on fewer clips has no scatter to learn from
# Every direction keeps at least this share of the mean separation: L labels separate at
# most L - 1 directions, and a catalog with few labels would otherwise lose the rest of
# the sound (10 labels: sound-only P@10 0.20 without the floor, 0.29 with it).
FLOOR = 0.1


def fit_sound_map(means: np.ndarray, targets: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """The (D, D) map, applied as ``(mean - centre) @ map``, from clip means (N, D) and
    their labels (N, L: 0 or 1). Identity when no label is on MIN_CLIPS clips."""
    x = np.asarray(means, dtype=np.float64)
    y = np.asarray(targets, dtype=np.float64)
    dims = x.shape[1]
    y = y[:, y.sum(0) >= MIN_CLIPS]
    if y.shape[1] == 0:
        return np.eye(dims, dtype=np.float32)
    counts = y.sum(0)
    class_means = (y.T @ x) / counts[:, None]
    carried = y.sum(1)
    within = (x * carried[:, None]).T @ x - (class_means * counts[:, None]).T @ class_means
    within /= counts.sum()
    apart = class_means - np.asarray(centre, dtype=np.float64)
    between = (apart * counts[:, None]).T @ apart / counts.sum()
    within += SHRINK * np.trace(within) / dims * np.eye(dims)
    values, vectors = np.linalg.eigh(within)
    whiten = vectors @ np.diag(1.0 / np.sqrt(np.maximum(values, 1e-12))) @ vectors.T
    separation, directions = np.linalg.eigh(whiten @ between @ whiten)
    separation = np.maximum(separation, 0.0)
    weights = np.maximum(separation, FLOOR * separation.mean()) ** POWER
    projection = whiten @ directions * weights
    # Only directions matter to the cosine: scaled to a spectral norm of 1.
    return (projection / max(float(np.linalg.norm(projection, 2)), 1e-12)).astype(np.float32)
