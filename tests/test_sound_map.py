"""The sound block's learned projection: what it hears, and builds with and without it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recommender.index.sound_map import fit_sound_map
from recommender.index.tagger import TagModel, train_tagger
from recommender.index.vectors import VectorSpace


def _means(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Clip means in which a loud nuisance (10 dimensions, spread 1, as recording and
    loudness vary) drowns what tells two labels apart (4 quiet dimensions, 0.3 apart)."""
    labels = np.arange(count) % 2
    x = rng.normal(0, 0.1, (count, 128))
    x[:, :10] = rng.normal(0, 1.0, (count, 10))
    x[:, 20:24] += np.where(labels == 1, 0.15, -0.15)[:, None]
    targets = np.stack([labels == 0, labels == 1], axis=1).astype(np.float32)
    return x, targets


def _p_at_10(vectors: np.ndarray, targets: np.ndarray) -> float:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    similar = unit @ unit.T
    np.fill_diagonal(similar, -np.inf)
    top = np.argsort(-similar, axis=1)[:, :10]
    same = targets.argmax(1)
    return float((same[top] == same[:, None]).mean())


def test_the_projection_hears_labels_through_a_louder_nuisance() -> None:
    train, train_targets = _means(np.random.default_rng(0), 400)
    centre = train.mean(0)
    projection = fit_sound_map(train, train_targets, centre)
    assert projection.shape == (128, 128) and projection.dtype == np.float32
    test, test_targets = _means(np.random.default_rng(1), 400)
    raw = _p_at_10(test - centre, test_targets)
    learned = _p_at_10((test - centre) @ projection, test_targets)
    assert raw < 0.7  # near chance (0.5): the nuisance decides the cosine
    assert learned > 0.9


def test_without_labels_to_learn_from_the_projection_is_the_identity() -> None:
    x, _ = _means(np.random.default_rng(2), 20)
    one_clip_each = np.eye(20, 3, dtype=np.float32)  # no label on two clips
    np.testing.assert_array_equal(fit_sound_map(x, one_clip_each, x.mean(0)), np.eye(128))


def _clips(rng: np.random.Generator, count: int) -> tuple[list[np.ndarray], list[tuple[int]]]:
    clips = [rng.integers(100, 156, (10, 128), dtype=np.uint8) for _ in range(count)]
    for clip in clips[1::2]:
        clip[:, 20:24] += 20
    return clips, [(1,) if i % 2 else (2,) for i in range(count)]


def test_a_build_keeps_its_projection_and_older_builds_keep_the_centred_mean(
    tmp_path: Path,
) -> None:
    clips, labels = _clips(np.random.default_rng(3), 60)
    tagger = train_tagger(clips, labels, [1, 2], steps=5, hidden=8)
    assert tagger.sound_map is not None and tagger.sound_map.shape == (128, 128)
    tagger.save(tmp_path / "tagger.npz")
    loaded = TagModel.load(tmp_path / "tagger.npz")
    assert loaded.digest == tagger.digest
    np.testing.assert_array_equal(
        VectorSpace(loaded).sound(clips[0]), VectorSpace(tagger).sound(clips[0])
    )

    # A build made before the projection: the sound block is the centred mean, as it was.
    arrays = tagger._arrays()
    del arrays["sound_map"]
    np.savez(tmp_path / "older.npz", **arrays)
    older = TagModel.load(tmp_path / "older.npz")
    assert older.sound_map is None and older.digest != tagger.digest
    mean = clips[0].astype(np.float32).mean(0) * (4.0 / 255.0) - 2.0 - older.frame_mean
    np.testing.assert_allclose(
        VectorSpace(older).sound(clips[0]), 0.1 * mean / np.linalg.norm(mean), atol=1e-6
    )
    # One batch of clips and one clip at a time agree, with the projection.
    space = VectorSpace(tagger)
    batch = space.item_vectors(clips[:4], [() for _ in range(4)])
    np.testing.assert_allclose(batch[2], space.item_vector(clips[2]), rtol=1e-5, atol=1e-6)


def test_a_projection_of_the_wrong_shape_is_refused(tmp_path: Path) -> None:
    clips, labels = _clips(np.random.default_rng(4), 20)
    arrays = train_tagger(clips, labels, [1, 2], steps=5, hidden=8)._arrays()
    arrays["sound_map"] = np.eye(64, dtype=np.float32)
    np.savez(tmp_path / "tagger.npz", **arrays)
    with pytest.raises(ValueError, match="wrong shape"):
        TagModel.load(tmp_path / "tagger.npz")


def test_few_labels_do_not_take_the_rest_of_the_sound() -> None:
    # Two labels separate one direction; the other 127 still count, so clips that differ
    # only outside it are still told apart.
    train, train_targets = _means(np.random.default_rng(5), 400)
    projection = fit_sound_map(train, train_targets, train.mean(0))
    singular = np.linalg.svd(projection, compute_uv=False)
    assert singular.min() > 0.02 * singular.max()  # without the floor: 0
