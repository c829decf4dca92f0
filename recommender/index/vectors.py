"""The one place that turns frames (and, for catalog items, known labels) into index vectors.

Catalog clips and queries go through the same functions from the same kind of frames
(PCA'd, 8-bit VGGish), so a catalog clip and the same audio fetched from YouTube land on
the same query point.

An index vector has two blocks, searched with one inner-product lookup:
- sound: the centred mean of the dequantized frames, through the build's learned
  projection (``sound_map``; none in older builds), unit length, times ``audio_weight``;
- tags: for a catalog item, its known specific labels (1 each), or the tagger's
  probabilities when it has none; for a query, ``-log(1 - p)`` of the tagger's
  probabilities. The tag score of an item is then ``-log P(shares no label with the
  query)`` under independent tags: ranking by it ranks by the chance of a shared label.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..vggish_format import EMBEDDING_SIZE
from .tagger import WINDOW, TagModel, dequantize

SCHEME = "earshot-v1"
SOUND_DIMS = EMBEDDING_SIZE  # the sound block comes first in every vector
AUDIO_WEIGHT = 0.1
KNOWN_LABEL_CONFIDENCE = 0.95
_MAX_PROBABILITY = 0.99
# A described label weighs what a tag the tagger is sure of weighs in a song's query.
DESCRIBED_WEIGHT = float(-np.log1p(-_MAX_PROBABILITY))
STEER_STRENGTH = 1.0  # how far /discover's ``like`` moves a song toward the description
# Sound similarity from which a suggestion is "a close match in sound": the same share of
# suggestions (about one in nine on the shared sample) with the learned projection, whose
# cosines run higher, as with the centred mean of older builds.
CLOSE_SOUND = 0.73
CLOSE_SOUND_CENTRED = 0.6


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
        self.close_sound = CLOSE_SOUND if tagger.sound_map is not None else CLOSE_SOUND_CENTRED

    def sound(self, frames: np.ndarray) -> np.ndarray:
        return self.audio_weight * _unit(self.tagger.sound(dequantize(frames).mean(0)))

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
        mask = np.arange(WINDOW)[None, :] < lengths[:, None]
        tags = np.stack([self.known_tags(labels[i]) for i in clips])
        unknown = ~tags.any(1)
        if unknown.any():
            tags[unknown] = self.tagger.predict_windows(padded[unknown], mask[unknown])
        mean = (dequantize(padded) * mask[:, :, None]).sum(1) / lengths[:, None]
        sound = self.audio_weight * _unit(self.tagger.sound(mean))
        out[clips] = np.concatenate([sound, tags], axis=1)
        return out

    def query_vector(self, frames: np.ndarray, known_labels: Sequence[int] = ()) -> np.ndarray:
        """The search point for a track. ``known_labels`` (a catalog clip's own labels,
        never used in evaluation) raise the confidence of those tags."""
        p = self.tag_probabilities(frames)
        p = np.maximum(p, KNOWN_LABEL_CONFIDENCE * self.known_tags(known_labels))
        tags = -np.log1p(-np.minimum(p, _MAX_PROBABILITY))
        return np.concatenate([self.sound(frames), tags]).astype(np.float32)

    def described(self, labels: Sequence[int], sound: np.ndarray) -> np.ndarray:
        """The search point for a description: each described label as sure as a heard
        tag can be, and ``sound`` (the typical sound of clips with those labels, from
        ``LabelProfile.sound_of``) as its sound block."""
        tags = DESCRIBED_WEIGHT * self.known_tags(labels)
        return np.concatenate([self.audio_weight * _unit(sound), tags]).astype(np.float32)

    def steered(
        self, query: np.ndarray, labels: Sequence[int], sound: np.ndarray, strength: float
    ) -> np.ndarray:
        """A song's search point moved toward a description by ``strength`` (0: the song
        alone; 1: each described label as sure as the song's surest tag)."""
        tags = query[SOUND_DIMS:]
        surest = float(tags.max()) if tags.size else DESCRIBED_WEIGHT
        tags = tags + strength * max(surest, 1e-3) * self.known_tags(labels)
        mixed = _unit(query[:SOUND_DIMS]) + strength * _unit(sound)
        return np.concatenate([self.audio_weight * _unit(mixed), tags]).astype(np.float32)

    def sound_similarity(self, item: np.ndarray, query: np.ndarray) -> float:
        """Cosine of the sound blocks of an item and a query vector (both unit length
        times ``audio_weight`` as built), in [-1, 1]."""
        weight_sq = self.audio_weight**2 or 1.0
        return float(item[:SOUND_DIMS] @ query[:SOUND_DIMS]) / weight_sq

    def top_tags(self, frames: np.ndarray, count: int = 5, floor: float = 0.1) -> list[int]:
        """The labels the tagger hears most confidently, best first."""
        return self._surest(self.tag_probabilities(frames), count, floor)

    def heard_tags(self, item: np.ndarray, count: int = 3, floor: float = 0.25) -> list[int]:
        """An unlabelled item's tags as the build heard them: its vector's tag block holds
        the tagger's probabilities (a labelled item's holds its labels)."""
        return self._surest(np.asarray(item[SOUND_DIMS:], dtype=np.float32), count, floor)

    def _surest(self, p: np.ndarray, count: int, floor: float) -> list[int]:
        order = np.argsort(-p, kind="stable")[:count]
        return [self.labels[i] for i in order if p[i] >= floor]


class LabelProfile:
    """What the catalog's labelled items say of each tag column: how many carry that label,
    and the sum of their (unit) sound blocks, from which a label's typical sound is read.
    An item whose tag block is its known labels holds only zeros and ones."""

    def __init__(self, labels: Sequence[int]) -> None:
        self.labels = [int(x) for x in labels]
        self._column = {label: i for i, label in enumerate(self.labels)}
        self.counts = np.zeros(len(self.labels), dtype=np.int64)
        self._sums = np.zeros((len(self.labels), SOUND_DIMS), dtype=np.float64)

    def add(self, vectors: np.ndarray) -> None:
        tags = vectors[:, SOUND_DIMS:]
        known = ((tags == 0.0) | (tags == 1.0)).all(axis=1) & (tags == 1.0).any(axis=1)
        carried = (tags[known] == 1.0).astype(np.float64)
        self.counts += carried.sum(axis=0).astype(np.int64)
        self._sums += carried.T @ _unit(vectors[known, :SOUND_DIMS].astype(np.float64))

    def count(self, label: int) -> int:
        column = self._column.get(label)
        return 0 if column is None else int(self.counts[column])

    def sound_of(self, labels: Sequence[int]) -> np.ndarray:
        """The typical sound of the described labels: the mean of each label's mean sound
        direction (zero when no labelled item carries any of them)."""
        directions = [
            _unit(self._sums[self._column[label]]) for label in labels if self.count(label) > 0
        ]
        if not directions:
            return np.zeros(SOUND_DIMS, dtype=np.float32)
        return np.mean(directions, axis=0).astype(np.float32)
