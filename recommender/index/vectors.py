"""The one place that turns frames (and, for catalog items, known labels) into index vectors.

Catalog clips and queries go through the same functions from the same kind of frames
(PCA'd, 8-bit VGGish), so a catalog clip and the same audio fetched from YouTube land on
the same query point.

An index vector has two blocks, searched with one inner-product lookup:
- sound: the centred mean of the dequantized frames, unit length, times ``audio_weight``;
- tags: for a catalog item, its known specific labels (1 each), or the tagger's
  probabilities when it has none; for a query, ``-log(1 - p)`` of the tagger's
  probabilities. The tag score of an item is then ``-log P(shares no label with the
  query)`` under independent tags: ranking by it ranks by the chance of a shared label.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..vggish_format import EMBEDDING_SIZE
from .tagger import WINDOW, TagModel, dequantize, pool_windows

SCHEME = "earshot-v1"
SOUND_DIMS = EMBEDDING_SIZE  # the sound block comes first in every vector
AUDIO_WEIGHT = 0.1
KNOWN_LABEL_CONFIDENCE = 0.95
_MAX_PROBABILITY = 0.99


def _unit(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norm, 1e-9)


class VectorSpace:
    """Vectors of one tagger: items for the index, queries to search it with."""

    def __init__(self, tagger: TagModel, audio_weight: float = AUDIO_WEIGHT) -> None:
        self.tagger = tagger
        self.audio_weight = audio_weight
        self.labels = [int(x) for x in tagger.labels]
        self._column = {label: i for i, label in enumerate(self.labels)}
        self.dim = SOUND_DIMS + len(self.labels)
        self.version = f"{SCHEME}-w{audio_weight:g}-{tagger.digest}"

    def sound(self, frames: np.ndarray) -> np.ndarray:
        centred = dequantize(frames).mean(0) - self.tagger.frame_mean
        return self.audio_weight * _unit(centred)

    def known_tags(self, labels: Sequence[int]) -> np.ndarray:
        tags = np.zeros(len(self.labels), dtype=np.float32)
        for label in labels:
            column = self._column.get(label)
            if column is not None:
                tags[column] = 1.0
        return tags

    def tag_probabilities(self, frames: np.ndarray) -> np.ndarray:
        return self.tagger.predict(frames).astype(np.float32)

    def item_vector(self, frames: np.ndarray, labels: Sequence[int] = ()) -> np.ndarray:
        tags = self.known_tags(labels)
        if not tags.any():
            tags = self.tag_probabilities(frames)
        return np.concatenate([self.sound(frames), tags]).astype(np.float32)

    def item_vectors(
        self, frames: Sequence[np.ndarray], labels: Sequence[Sequence[int]]
    ) -> np.ndarray:
        """item_vector for many tracks; clip-sized ones (the catalog) in one batch."""
        out = np.zeros((len(frames), self.dim), dtype=np.float32)
        clips = [i for i, f in enumerate(frames) if 0 < len(f) <= WINDOW]
        for i in sorted(set(range(len(frames))) - set(clips)):
            out[i] = self.item_vector(frames[i], labels[i])
        if not clips:
            return out
        padded = np.zeros((len(clips), WINDOW, frames[clips[0]].shape[1]), dtype=np.uint8)
        lengths = np.array([len(frames[i]) for i in clips])
        for row, i in enumerate(clips):
            padded[row, : lengths[row]] = frames[i]
        pooled = pool_windows(padded, np.arange(WINDOW)[None, :] < lengths[:, None])
        tags = np.stack([self.known_tags(labels[i]) for i in clips])
        unknown = ~tags.any(1)
        if unknown.any():
            tags[unknown] = self.tagger.predict_pooled(pooled[unknown])
        sound = self.audio_weight * _unit(pooled[:, :SOUND_DIMS] - self.tagger.frame_mean)
        out[clips] = np.concatenate([sound, tags], axis=1)
        return out

    def query_vector(self, frames: np.ndarray, known_labels: Sequence[int] = ()) -> np.ndarray:
        """The search point for a track. ``known_labels`` (a catalog clip's own labels,
        never used in evaluation) raise the confidence of those tags."""
        p = self.tag_probabilities(frames)
        p = np.maximum(p, KNOWN_LABEL_CONFIDENCE * self.known_tags(known_labels))
        tags = -np.log1p(-np.minimum(p, _MAX_PROBABILITY))
        return np.concatenate([self.sound(frames), tags]).astype(np.float32)

    def sound_similarity(self, item: np.ndarray, query: np.ndarray) -> float:
        """Cosine of the sound blocks of an item and a query vector (both unit length
        times ``audio_weight`` as built), in [-1, 1]."""
        weight_sq = self.audio_weight**2 or 1.0
        return float(item[:SOUND_DIMS] @ query[:SOUND_DIMS]) / weight_sq

    def top_tags(self, frames: np.ndarray, count: int = 5, floor: float = 0.1) -> list[int]:
        """The labels the tagger hears most confidently, best first."""
        p = self.tag_probabilities(frames)
        order = np.argsort(-p)[:count]
        return [self.labels[i] for i in order if p[i] >= floor]
