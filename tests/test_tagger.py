"""The tagger: attention over frames, ensembles, and the pooled tagger of older builds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recommender.index.tagger import POOLED_SIZE, TagModel, train_tagger


def _clips(rng: np.random.Generator, count: int) -> tuple[list[np.ndarray], list[tuple[int, ...]]]:
    """Clips of noise in which label 1 is two frames of ten loud in 8 dimensions, anywhere:
    the mean of the clip hardly moves, the frames that carry it do."""
    clips, labels = [], []
    for i in range(count):
        clip = rng.integers(100, 156, (10, 128), dtype=np.uint8)
        if i % 2:
            at = int(rng.integers(0, 9))
            clip[at : at + 2, :8] = 250
        clips.append(clip)
        labels.append((1,) if i % 2 else (2,))
    return clips, labels


def test_attention_hears_a_label_in_two_frames_of_ten() -> None:
    rng = np.random.default_rng(0)
    clips, labels = _clips(rng, 400)
    tagger = train_tagger(clips, labels, [1, 2], steps=400, hidden=32)
    assert tagger.attention and tagger.w1.shape == (1, 128, 32)
    test, truth = _clips(np.random.default_rng(1), 100)
    p = np.stack([tagger.predict(c) for c in test])
    carries = np.array([1 in t for t in truth])
    # Every clip with the two loud frames is tagged above every clip without them.
    assert p[carries, 0].min() > p[~carries, 0].max()
    assert ((p[:, 1] > 0.5) == ~carries).mean() > 0.95


def test_padding_does_not_change_a_window_and_members_average() -> None:
    rng = np.random.default_rng(2)
    clips, labels = _clips(rng, 60)
    tagger = train_tagger(clips, labels, [1, 2], steps=20, hidden=8, members=2)
    assert tagger.w1.shape == (2, 128, 8)
    short = clips[1][:4]
    padded = np.zeros((1, 10, 128), np.uint8)
    padded[0, :4] = short
    mask = np.arange(10)[None, :] < 4
    np.testing.assert_allclose(
        tagger.predict_windows(padded, mask)[0], tagger.predict(short), rtol=1e-6
    )
    # Two members: the mean of each member's probabilities.
    one = [
        TagModel(tagger.labels, tagger.mu, tagger.sd, *(a[e : e + 1] for a in _weights(tagger)))
        for e in (0, 1)
    ]
    both = (one[0].predict(clips[0]) + one[1].predict(clips[0])) / 2
    np.testing.assert_allclose(tagger.predict(clips[0]), both, rtol=1e-5)
    # Same data and seed, same tagger; another seed, another one.
    again = train_tagger(clips, labels, [1, 2], steps=20, hidden=8, members=2)
    assert again.digest == tagger.digest
    assert train_tagger(clips, labels, [1, 2], steps=20, hidden=8, seed=5).digest != tagger.digest


def _weights(tagger: TagModel) -> list[np.ndarray]:
    return [tagger.w1, tagger.b1, tagger.w2, tagger.b2, tagger.wa, tagger.ba]  # type: ignore[list-item]


def test_saved_taggers_load_both_kinds(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    clips, labels = _clips(rng, 40)
    attention = train_tagger(clips, labels, [1, 2], steps=10, hidden=8)
    attention.save(tmp_path / "attention.npz")
    loaded = TagModel.load(tmp_path / "attention.npz")
    assert loaded.attention and loaded.digest == attention.digest
    np.testing.assert_array_equal(loaded.predict(clips[3]), attention.predict(clips[3]))

    # A build made before attention holds the pooled tagger: it loads and tags as it did.
    pooled = TagModel(
        np.array([1, 2]),
        np.zeros(POOLED_SIZE, np.float32),
        np.ones(POOLED_SIZE, np.float32),
        rng.normal(size=(POOLED_SIZE, 8)).astype(np.float32),
        np.zeros(8, np.float32),
        rng.normal(size=(8, 2)).astype(np.float32),
        np.zeros(2, np.float32),
    )
    np.savez(tmp_path / "pooled.npz", **pooled._arrays())
    old = TagModel.load(tmp_path / "pooled.npz")
    assert not old.attention and old.digest == pooled.digest
    np.testing.assert_allclose(old.predict(clips[0]), pooled.predict(clips[0]))


@pytest.mark.parametrize(
    "damage", [{"wa": np.zeros((1, 8, 3), np.float32)}, {"mu": np.zeros(384, np.float32)}]
)
def test_a_tagger_whose_arrays_do_not_fit_is_refused(tmp_path: Path, damage: dict) -> None:
    clips, labels = _clips(np.random.default_rng(4), 20)
    arrays = train_tagger(clips, labels, [1, 2], steps=5, hidden=8)._arrays()
    np.savez(tmp_path / "tagger.npz", **{**arrays, **damage})
    with pytest.raises(ValueError, match="wrong shape"):
        TagModel.load(tmp_path / "tagger.npz")
