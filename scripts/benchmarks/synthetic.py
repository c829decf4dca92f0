"""A synthetic catalog for ``scale``: AudioSet-shaped clips with the statistics of the
shared sample's music clips, in a folder like the AudioSet release."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from scripts.benchmarks.harness import SHARED_AUDIOSET

if TYPE_CHECKING:
    from recommender.audioset.tfrecord import ClipRecord


def synthetic_clips(count: int, seed: int, skew: bool = False) -> Iterator[ClipRecord]:
    """AudioSet-shaped clips with the statistics of the shared sample's music clips: each is
    a real clip mixed with up to half of another real clip that has the same specific labels
    (or, like it, none), plus noise, so label sets keep their real frequencies and sounds
    spread like real ones instead of piling up as near-copies. Yields ClipRecords.

    ``skew``: the labels of AudioSet's unbalanced release, where "Music" is on about a
    million clips and each genre or instrument on far fewer: half the clips carry only
    "Music", or "Music" and one generic music label ("Background music", "Song", ...), so
    their tags are the tagger's guesses and cannot narrow a search."""
    import collections

    import numpy as np

    from recommender.audioset.ontology import MUSIC, LabelKind, Ontology, find_tfrecords
    from recommender.audioset.tfrecord import ClipRecord, read_clips
    from recommender.index.tagger import WINDOW

    shared = SHARED_AUDIOSET
    ontology = Ontology.load(shared)
    specific = set(ontology.specific)
    real = [c for p in find_tfrecords(shared) for c in read_clips(p) if ontology.is_music(c.labels)]
    frames = np.zeros((len(real), WINDOW, 128), dtype=np.float32)
    lengths = np.array([min(len(c.frames), WINDOW) for c in real])
    same_labels: dict[tuple[int, ...], list[int]] = collections.defaultdict(list)
    for i, clip in enumerate(real):
        frames[i, : lengths[i]] = clip.frames[:WINDOW]
        same_labels[tuple(sorted(set(clip.labels) & specific))].append(i)
    partners = [np.array(same_labels[tuple(sorted(set(c.labels) & specific))]) for c in real]
    music = next(c.index for c in ontology.classes if c.mid == MUSIC)
    generic = [c.index for c in ontology.classes if c.kind == LabelKind.MUSIC and c.index != music]
    rng = np.random.default_rng(seed)
    for i in range(count):
        base = int(rng.integers(len(real)))
        partner = int(rng.choice(partners[base]))
        mix = rng.uniform(0.0, 0.5)
        mixed = (1 - mix) * frames[base] + mix * frames[partner]
        mixed += rng.normal(0.0, 8.0, mixed.shape)
        quantized = np.clip(np.rint(mixed[: lengths[base]]), 0, 255).astype(np.uint8)
        labels = real[base].labels
        if skew and rng.random() < 0.5:
            labels = (music,) if rng.random() < 0.5 else (music, int(rng.choice(generic)))
        yield ClipRecord(f"s{seed}-{i:09d}", 0.0, 10.0, labels, quantized)


def synthetic_catalog(folder: Path, clips: int, seed: int = 0, skew: bool = False) -> None:
    """A folder like the AudioSet release with ``clips`` synthetic clips."""
    from recommender.audioset.tfrecord import write_clips

    shared = SHARED_AUDIOSET
    split = folder / "audioset_v1_embeddings" / "unbal_train"
    split.mkdir(parents=True)
    for name in ("class_labels_indices.csv", "ontology.json"):
        shutil.copyfile(shared / name, folder / name)
    per_file = 1000
    batch = []
    for i, clip in enumerate(synthetic_clips(clips, seed, skew)):
        batch.append(clip)
        if len(batch) == per_file or i == clips - 1:
            write_clips(split / f"synthetic-{i // per_file:05d}.tfrecord", batch)
            batch = []
