from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from recommender.index.tagger import TagModel
from recommender.index.vector_index import (
    ANNOY_FROM,
    BUILDS,
    FINE_DIMS,
    IndexUnreadableError,
    IndexWriter,
    VectorIndex,
    current_build,
)
from recommender.index.vectors import VectorSpace

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


def _build(root: Path, vectors: np.ndarray, ids: np.ndarray, prune_grace_s: float = 0.0) -> Path:
    tagger = _tagger()
    writer = IndexWriter(root, len(ids), vectors.shape[1], trees=20, prune_grace_s=prune_grace_s)
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
        from recommender.index.vector_index import IndexWriter
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


def _catalog_like(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Rows shaped like the catalog's: a unit fine block (sound) times 0.1, then tags that
    are a shared label set (one large group, several small ones) or predicted."""
    tags = 6
    sets = [(0,), (1, 2), (3,), (0, 4), (5,)]
    sizes = [ANNOY_FROM + 500, 300, 200, 40, 33]
    rows = [
        np.eye(tags, dtype=np.float32)[list(s)].sum(0)
        for s, n in zip(sets, sizes, strict=True)
        for _ in range(n)
    ]
    rows += list(rng.random((900, tags)).astype(np.float32) * 0.9)  # predicted: all different
    routing = np.stack(rows)
    fine = rng.normal(size=(len(routing), FINE_DIMS)).astype(np.float32)
    fine = 0.1 * fine / np.linalg.norm(fine, axis=1, keepdims=True)
    return np.concatenate([fine, routing], axis=1), np.arange(len(routing), dtype=np.int64) * 7


def test_groups_clusters_and_annoy_chunks_find_the_exact_top(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    vectors, ids = _catalog_like(rng)
    tagger = _tagger()
    writer = IndexWriter(tmp_path, len(ids), vectors.shape[1], trees=10)
    writer.add(ids[::-1].copy(), vectors[::-1].copy())  # order of arrival does not matter
    writer.build()
    writer.commit(tagger, VectorSpace(tagger), {})
    index = VectorIndex.open_current(tmp_path)
    assert index is not None
    info = index.info
    assert info.shared_groups == 5 and info.annoy_groups == 1
    assert info.clustered_rows == 900 and info.extra["annoy_rows"] == ANNOY_FROM + 500
    assert sorted(index.track_at(r) for r in range(len(index))) == sorted(ids.tolist())
    rows = index.positions_of([7 * 5, 7 * 4000, 3, 0])
    assert rows[2] == -1 and index.track_at(rows[0]) == 35 and index.track_at(rows[3]) == 0
    np.testing.assert_array_equal(index.vector_at(rows[1]), vectors[4000])

    recall = []
    for _ in range(60):
        query = np.concatenate(
            [0.1 * rng.normal(size=FINE_DIMS), -np.log1p(-rng.random(6) * 0.95)]
        ).astype(np.float32)
        hits = index.search(query, 10)
        exact_scores = vectors @ query
        exact = set(ids[np.argsort(-exact_scores)[:10]].tolist())
        recall.append(len(exact & {h.track_id for h in hits}) / 10)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        for h in hits:  # scores are exact
            assert abs(h.score - exact_scores[h.track_id // 7]) < 1e-4
        bounds = index.bounds(query)
        for chunk, bound in enumerate(bounds):  # no row beats its chunk's bound
            start, end = index._start[chunk], index._end[chunk]
            assert (index.copy_rows(start, end) @ query).max() <= bound
    assert np.mean(recall) >= 0.95
    # a query inside the large group: Annoy finds its own row, accept can refuse it
    row = 100
    assert index.search(vectors[row], 1)[0].track_id == ids[row]
    refused = index.search(vectors[row], 5, accept=lambda t: t != ids[row])
    assert len(refused) == 5 and ids[row] not in [h.track_id for h in refused]
    # a budget of one chunk still answers, from the best chunk
    assert len(index.search(vectors[row], 10, max_groups=1)) == 10
    # no tags at all: every chunk looks alike, the walk runs out of budget and the sound
    # index over the whole catalog finds the best-sounding rows wherever they are
    sound_only = vectors[3500].copy()
    sound_only[FINE_DIMS:] = 0
    exact = set(ids[np.argsort(-(vectors @ sound_only))[:10]].tolist())
    hits = index.search(sound_only, 10, max_groups=2, overfetch=100)
    assert hits[0].track_id == ids[3500]
    assert len(exact & {h.track_id for h in hits}) >= 9
    index.close()


def test_a_damaged_annoy_group_is_checked_when_needed_and_searched_around(
    tmp_path: Path,
) -> None:
    """A large build opens without hashing its many Annoy files (the bot's start would wait
    on them); the first search that needs one checks it, and a damaged one is passed over
    for an exact scan of its rows, so the answer stays right; verify names the file."""
    rng = np.random.default_rng(3)
    vectors, ids = _catalog_like(rng)
    tagger = _tagger()
    writer = IndexWriter(tmp_path, len(ids), vectors.shape[1], trees=10)
    writer.add(ids, vectors)
    writer.build()
    build = writer.commit(tagger, VectorSpace(tagger), {})
    group = build / "annoy" / "0.ann"
    whole = group.read_bytes()
    data = bytearray(whole)
    for i in range(len(data) // 2, len(data) // 2 + 64):
        data[i] ^= 0xFF
    group.write_bytes(bytes(data))

    index = VectorIndex(build)  # opens: the group's checksum waits for its first search
    assert not index.damaged
    row = 100  # inside the large group
    exact = ids[np.argsort(-(vectors @ vectors[row]))[:10]].tolist()
    hits = index.search(vectors[row], 10)
    assert [h.track_id for h in hits] == exact  # the damaged group's rows, scanned
    assert index.damaged
    with pytest.raises(IndexUnreadableError, match=r"annoy/0\.ann is damaged"):
        index.verify()
    index.close()

    group.write_bytes(whole)  # repaired: searched through Annoy again
    index = VectorIndex(build)
    hits = index.search(vectors[row], 10)
    assert hits[0].track_id == ids[row] and len(set(exact) & {h.track_id for h in hits}) >= 8
    assert not index.damaged and "annoy/0.ann" in index._checked
    index.verify()
    index.close()


def test_an_old_layout_is_refused_clearly(tmp_path: Path) -> None:
    path = _build(
        tmp_path, np.random.default_rng(0).normal(size=(50, DIM)).astype(np.float32), np.arange(50)
    )
    meta = json.loads((path / "meta.json").read_text())
    meta["layout"] = "annoy-v0"
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(IndexUnreadableError, match="another version of earshot"):
        VectorIndex.open_current(tmp_path)
