"""Which clips carry which labels, as a matrix: the ground truth both the evaluation and
the simulated members read."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..audioset.tfrecord import ClipRecord


def label_matrix(clips: Sequence[ClipRecord], labels: Sequence[int]) -> np.ndarray:
    column = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(clips), len(labels)), dtype=bool)
    for i, clip in enumerate(clips):
        for label in clip.labels:
            if label in column:
                matrix[i, column[label]] = True
    return matrix
