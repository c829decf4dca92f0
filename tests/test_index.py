from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from recommender.index import BUILDS, IndexWriter, VectorIndex, current_build
from recommender.tagger import TagModel
from recommender.vectors import VectorSpace

DIM = 128 + 4


def _tagger() -> TagModel:
    rng = np.random.default_rng(1)
    return TagModel(
        np.array([10, 11, 12, 13]),
        np.zeros(384, np.float32),
        np.ones(384, np.float32),
        rng.normal(size=(384, 8)).astype(np.float32),
        np.zeros(8, np.float32),
        rng.normal(size=(8, 4)).astype(np.float32),
        np.zeros(4, np.float32),
    )


def _build(root: Path, vectors: np.ndarray, ids: np.ndarray) -> Path:
    tagger = _tagger()
    writer = IndexWriter(root, len(ids), vectors.shape[1], trees=20)
    writer.add(ids, vectors)
    writer.build()
    return writer.commit(tagger, VectorSpace(tagger), {"note": "test"})


def test_search_matches_exact_inner_product(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(2000, DIM)).astype(np.float32)
    ids = np.arange(1000, 3000, dtype=np.int64)
    _build(tmp_path, vectors, ids)
    index = VectorIndex.open_current(tmp_path)
    assert index is not None and len(index) == 2000
    recall = []
    for q in rng.normal(size=(50, DIM)).astype(np.float32):
        hits = index.search(q, 10, overfetch=20, search_k=20000)
        exact = set(ids[np.argsort(-(vectors @ q))[:10]])
        recall.append(len(exact & {h.track_id for h in hits}) / 10)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert np.mean(recall) >= 0.95
    hits = index.search(vectors[5], 3, accept=lambda track: track != 1005)
    assert 1005 not in [h.track_id for h in hits]
    index.close()


def test_old_build_keeps_serving_while_new_builds_swap_in(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    first = rng.normal(size=(300, DIM)).astype(np.float32)
    _build(tmp_path, first, np.arange(300))
    old = VectorIndex.open_current(tmp_path)
    assert old is not None
    before = [h.track_id for h in old.search(first[0], 5)]
    for _ in range(3):  # the old build's files are pruned from disk meanwhile
        _build(tmp_path, rng.normal(size=(500, DIM)).astype(np.float32), np.arange(500) + 10_000)
    assert not old.path.exists()
    assert [h.track_id for h in old.search(first[0], 5)] == before
    new = VectorIndex.open_current(tmp_path)
    assert new is not None and len(new) == 500
    assert len(list((tmp_path / BUILDS).iterdir())) == 2  # current + one previous


def test_crash_mid_build_leaves_the_old_index_serving(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    _build(tmp_path, rng.normal(size=(300, DIM)).astype(np.float32), np.arange(300))
    live = current_build(tmp_path)
    script = textwrap.dedent(f"""
        import os, numpy as np
        from pathlib import Path
        from recommender.index import IndexWriter
        w = IndexWriter(Path({str(tmp_path)!r}), 400, {DIM}, 10)
        w.add(np.arange(400), np.random.default_rng(2).normal(size=(400, {DIM})).astype(np.float32))
        w.build()
        os._exit(9)  # killed before commit
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parents[1])
    assert result.returncode == 9
    assert current_build(tmp_path) == live
    index = VectorIndex.open_current(tmp_path)
    assert index is not None and len(index) == 300
    assert any(p.name.endswith(".partial") for p in (tmp_path / BUILDS).iterdir())
    _build(tmp_path, rng.normal(size=(200, DIM)).astype(np.float32), np.arange(200))
    assert not any(p.name.endswith(".partial") for p in (tmp_path / BUILDS).iterdir())
    again = VectorIndex.open_current(tmp_path)
    assert again is not None and len(again) == 200


def test_no_index_yet(tmp_path: Path) -> None:
    assert VectorIndex.open_current(tmp_path) is None
