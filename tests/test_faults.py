"""Fault injection: bytes flipped in each file of a real index build. Whatever the damage,
no command ends in a traceback, the message names the damaged file, the documented fix
(`reindex`) runs, and no suggestion comes from a damaged row."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

import recommender.index.reader as index_module
from recommender.index.vector_index import (
    IndexUnreadableError,
    IndexWriter,
    VectorIndex,
    current_build,
)
from scripts.standins.cli import run_cli, run_json

SMALL_FILES = ["ids.npy", "by_id.npy", "chunks.npz", "tagger.npz", "vectors.npy"]


def _flip(path: Path, at: float = 0.5, count: int = 8) -> None:
    """Invert ``count`` bytes from ``at`` (a share of the file) on: damage, same size."""
    data = bytearray(path.read_bytes())
    start = min(int(len(data) * at), len(data) - count)
    for i in range(start, start + count):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def _video(data: Path) -> str:
    with sqlite3.connect(data / "earshot.sqlite3") as db:
        video = db.execute(
            "SELECT video_id FROM tracks WHERE source = 'bal_train' ORDER BY id LIMIT 1"
        ).fetchone()[0]
    return f"https://youtu.be/{video}"


@pytest.fixture()
def data(built_catalog: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(built_catalog, copy)
    return copy


@pytest.mark.parametrize("name", [*SMALL_FILES, "annoy/sound.ann", "meta.json"])
def test_a_damaged_file_is_named_with_the_fix(data: Path, name: str) -> None:
    build = current_build(data / "index")
    assert build is not None
    _flip(build / name, at=0.02 if name == "meta.json" else 0.5)
    for command in (["stats"], ["doctor", "--json"], ["recommend", _video(data)]):
        result = run_cli(data, *command, check=False)
        assert "Traceback" not in result.stderr, (command, result.stderr)
        assert name in result.stderr + result.stdout, (command, result.stderr, result.stdout)
        assert "reindex" in result.stderr + result.stdout
        if command[0] == "doctor":
            doctor = json.loads(result.stdout)
            index_check = next(c for c in doctor["checks"] if c["name"] == "index")
            assert index_check["status"] == "fail" and name in index_check["detail"]
        if command[0] == "recommend":  # what a member reads, not "still preparing"
            assert "search index is damaged and needs rebuilding" in result.stderr


def test_reindex_repairs_a_damaged_build(data: Path) -> None:
    """The documented fix, once: a rebuild writes every file anew, whichever was damaged."""
    build = current_build(data / "index")
    assert build is not None
    _flip(build / "vectors.npy")
    assert run_cli(data, "recommend", _video(data), check=False).returncode == 1
    rebuilt = run_cli(data, "reindex", check=False)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert run_json(data, "stats")["indexed"] > 0
    assert len(run_json(data, "recommend", _video(data), "--count", "5")["items"]) == 5


def test_a_damaged_build_gives_way_to_the_one_before(data: Path) -> None:
    assert run_cli(data, "reindex").returncode == 0  # a second build: the first stays
    build = current_build(data / "index")
    assert build is not None
    _flip(build / "ids.npy")
    result = run_cli(data, "recommend", _video(data), "--count", "5", "--json")
    assert "serving the earlier build" in result.stderr and "ids.npy" in result.stderr
    assert len(json.loads(result.stdout)["items"]) == 5
    doctor = json.loads(run_cli(data, "doctor", "--json", check=False).stdout)
    check = next(c for c in doctor["checks"] if c["name"] == "index")
    assert check["status"] == "fail" and "serving the earlier build" in check["detail"]


def test_damaged_vectors_are_never_served_and_verify_names_them(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """vectors.npy of a large catalog is checked in the background, not at open: until
    then, a damaged row that would outscore the rest is caught at search time."""
    monkeypatch.setattr(index_module, "CHECK_AT_OPEN_BYTES", 0)  # as if every file were large
    build = current_build(data / "index")
    assert build is not None
    index = VectorIndex(build)
    query = index.vector_at(10).copy()
    clean = [h.track_id for h in index.search(query, 10)]
    index.close()
    vectors = np.load(build / "vectors.npy", mmap_mode="r+")
    target = int(np.argsort(vectors @ query)[len(vectors) // 2])  # an unremarkable row
    vectors[target] = query * 1e30  # finite, and far beyond anything the build allows
    vectors.flush()
    del vectors
    index = VectorIndex(build)  # the cheap checks pass
    hits = index.search(query, 10)
    assert index.damaged and [h.track_id for h in hits] == clean
    assert index.track_at(target) not in [h.track_id for h in hits]
    with pytest.raises(IndexUnreadableError, match=r"vectors\.npy is damaged"):
        index.verify()
    index.close()


def test_a_build_refuses_non_finite_vectors(tmp_path: Path) -> None:
    writer = IndexWriter(tmp_path, 3, 4, trees=2)
    rows = np.ones((3, 4), dtype=np.float32)
    rows[1, 2] = np.nan
    with pytest.raises(ValueError, match="track 11 has a non-finite vector"):
        writer.add(np.array([10, 11, 12]), rows)
    writer.abort()


def _damage_sqlite(path: Path, kind: str) -> None:
    data = bytearray(path.read_bytes())
    if kind == "header":  # no longer a database at all
        data[:100] = bytes(100)
    elif kind == "pages":  # b-tree pages overwritten here and there
        page = 4096
        for n in range(len(data) // page // 4, len(data) // page, 7):
            data[n * page : n * page + 16] = b"\xff" * 16
    else:  # cut short, as by a full disk or a bad copy
        data = data[: len(data) // 2]
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("kind", ["header", "pages", "truncated"])
def test_a_damaged_database_is_named_with_the_way_back(data: Path, kind: str) -> None:
    database, video = data / "earshot.sqlite3", _video(data)
    _damage_sqlite(database, kind)
    for command in (["stats"], ["recommend", "--count", "3", video], ["reindex"]):
        result = run_cli(data, *command, check=False)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert f"the SQLite database {database} is damaged" in result.stderr, result.stderr
        assert "'.recover'" in result.stderr and "backup" in result.stderr
    doctor = json.loads(run_cli(data, "doctor", "--json", check=False).stdout)
    check = next(c for c in doctor["checks"] if c["name"] == "database")
    assert check["status"] == "fail" and "is damaged" in check["detail"], check
