"""Index vectors: the batch path for catalog clips gives what one clip at a time gives."""

from __future__ import annotations

import numpy as np

from recommender.index.tagger import train_tagger
from recommender.index.vectors import VectorSpace


def test_item_vectors_batch_matches_one_at_a_time() -> None:
    rng = np.random.default_rng(0)
    clips = [rng.integers(0, 256, (n, 128), dtype=np.uint8) for n in (10, 10, 7, 3, 10, 25, 1)]
    label_sets = [(1,), (), (2, 3), (), (9,), (), (1, 2)]  # 9 is not a tag: predicted
    tagger = train_tagger(clips, label_sets, [1, 2, 3], steps=20, hidden=16)
    space = VectorSpace(tagger)
    batch = space.item_vectors(clips, label_sets)
    one_by_one = np.stack(
        [space.item_vector(c, ls) for c, ls in zip(clips, label_sets, strict=True)]
    )
    assert batch.shape == (len(clips), 128 + 3)
    np.testing.assert_allclose(batch, one_by_one, rtol=1e-5, atol=1e-6)
    assert list(batch[0, 128:]) == [1, 0, 0] and list(batch[2, 128:]) == [0, 1, 1]
    assert batch[1, 128:].min() > 0 and batch[1, 128:].max() < 1  # predicted


def test_an_unlabelled_items_heard_tags_are_its_surest_predicted_tags() -> None:
    rng = np.random.default_rng(1)
    clips = [rng.integers(0, 256, (8, 128), dtype=np.uint8) for _ in range(4)]
    tagger = train_tagger(clips, [(1,), (2,), (3,), ()], [1, 2, 3], steps=20, hidden=16)
    space = VectorSpace(tagger)
    item = space.item_vector(clips[3])  # no labels: the tagger's probabilities
    item[128:] = [0.2, 0.9, 0.5]
    assert space.heard_tags(item) == [2, 3]  # surest first; 0.2 is under the floor
    assert space.heard_tags(item, count=1) == [2]
    assert space.heard_tags(item, floor=0.1) == [2, 3, 1]
