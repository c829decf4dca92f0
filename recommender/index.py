"""The Annoy index: built once beside the live one, swapped in atomically, opened with mmap.

On disk, under ``DATA_DIR/index``::

    CURRENT                 the live build's name, replaced with os.replace
    builds/<name>/          one immutable build
        items.ann           Annoy (inner product) over the item vectors
        ids.npy             Annoy item i -> track id
        vectors.npy         the exact vectors, for re-ranking an over-fetched candidate set
        tagger.npz          the tag model the vectors were made with
        meta.json           count, trees, built at, vector version, timings

A build is written to ``builds/<name>.partial`` and renamed when complete, so a crash
mid-build leaves the old index serving; a reader that has the old build open keeps its mmap.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from annoy import AnnoyIndex

from .tagger import TagModel
from .vectors import VectorSpace

METRIC = "dot"
CURRENT = "CURRENT"
BUILDS = "builds"
PARTIAL = ".partial"


class IndexError_(RuntimeError):
    """The index is missing or cannot be read."""


@dataclass(frozen=True, slots=True)
class Hit:
    track_id: int
    score: float
    position: int  # row in vectors.npy


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class IndexWriter:
    """Writes one build. Feed it vectors with ``add``; ``commit`` makes it live."""

    def __init__(self, root: Path, count: int, dim: int, trees: int) -> None:
        self.root = root
        self.trees = trees
        self.count = count
        self.dim = dim
        builds = root / BUILDS
        builds.mkdir(parents=True, exist_ok=True)
        _remove_partials(builds)
        while True:  # names sort by time: pruning keeps the newest
            now = time.time_ns()
            stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now / 1e9))
            self.name = f"{stamp}.{now % 10**9:09d}-{os.getpid()}"
            self.path = builds / (self.name + PARTIAL)
            try:
                self.path.mkdir()
                break
            except FileExistsError:
                continue
        try:
            self.ids = np.lib.format.open_memmap(
                self.path / "ids.npy", mode="w+", dtype=np.int64, shape=(count,)
            )
            self.vectors = np.lib.format.open_memmap(
                self.path / "vectors.npy", mode="w+", dtype=np.float32, shape=(count, dim)
            )
            self.annoy = AnnoyIndex(dim, METRIC)
            self.annoy.set_seed(42)
            self.annoy.on_disk_build(str(self.path / "items.ann"))
        except BaseException:
            shutil.rmtree(self.path, ignore_errors=True)
            raise
        self.filled = 0

    def add(self, track_ids: np.ndarray, vectors: np.ndarray) -> None:
        end = self.filled + len(track_ids)
        if end > self.count:
            raise ValueError(f"more items than announced ({end} > {self.count})")
        self.ids[self.filled : end] = track_ids
        self.vectors[self.filled : end] = vectors
        for offset, vector in enumerate(vectors):
            self.annoy.add_item(self.filled + offset, vector)
        self.filled = end

    def build(self) -> float:
        """Build the trees (the slow, blocking part). Returns seconds taken."""
        if self.filled != self.count:
            raise ValueError(f"announced {self.count} items, got {self.filled}")
        started = time.perf_counter()
        self.annoy.build(self.trees, n_jobs=-1)
        return time.perf_counter() - started

    def commit(self, tagger: TagModel, space: VectorSpace, extra: dict[str, Any]) -> Path:
        """Write the remaining files, fsync, rename the build and point CURRENT at it."""
        self.annoy.unload()
        self.ids.flush()
        self.vectors.flush()
        del self.ids, self.vectors
        tagger.save(self.path / "tagger.npz")
        meta = {
            "count": self.count,
            "dim": self.dim,
            "trees": self.trees,
            "metric": METRIC,
            "vector_version": space.version,
            "audio_weight": space.audio_weight,
            "built_at": time.time(),
            **extra,
        }
        (self.path / "meta.json").write_text(json.dumps(meta, indent=2))
        for child in self.path.iterdir():
            with open(child, "rb") as f:
                os.fsync(f.fileno())
        final = self.path.with_name(self.name)
        os.rename(self.path, final)
        _fsync_dir(final.parent)
        pointer = self.root / (CURRENT + ".tmp")
        with open(pointer, "w") as f:
            f.write(self.name + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(pointer, self.root / CURRENT)
        _fsync_dir(self.root)
        _prune_builds(self.root / BUILDS, keep={self.name})
        return final

    def abort(self) -> None:
        try:
            self.annoy.unload()
        finally:
            shutil.rmtree(self.path, ignore_errors=True)


def _remove_partials(builds: Path) -> None:
    for child in builds.glob("*" + PARTIAL):
        shutil.rmtree(child, ignore_errors=True)


def _prune_builds(builds: Path, keep: set[str], retain: int = 1) -> None:
    """Delete old builds, keeping ``keep`` and the newest ``retain`` others.

    Deleting is safe for readers that still have an old build open: their mmap stays valid.
    """
    old = sorted(
        (
            p
            for p in builds.iterdir()
            if p.is_dir() and not p.name.endswith(PARTIAL) and p.name not in keep
        ),
        key=lambda p: p.name,
    )
    for path in old[: max(len(old) - retain, 0)]:
        shutil.rmtree(path, ignore_errors=True)


def current_build(root: Path) -> Path | None:
    pointer = root / CURRENT
    try:
        name = pointer.read_text().strip()
    except FileNotFoundError:
        return None
    path = root / BUILDS / name
    return path if path.is_dir() else None


class VectorIndex:
    """A read-only, memory-mapped build."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.meta: dict[str, Any] = json.loads((path / "meta.json").read_text())
            self.tagger = TagModel.load(path / "tagger.npz")
            self.ids = np.load(path / "ids.npy", mmap_mode="r")
            self.vectors = np.load(path / "vectors.npy", mmap_mode="r")
        except (OSError, ValueError, KeyError) as exc:
            raise IndexError_(f"index build {path} cannot be read: {exc}") from None
        self.space = VectorSpace(self.tagger, float(self.meta.get("audio_weight", 0.3)))
        self.annoy = AnnoyIndex(int(self.meta["dim"]), self.meta.get("metric", METRIC))
        if not self.annoy.load(str(path / "items.ann"), prefault=False):
            raise IndexError_(f"index build {path} has no readable items.ann")

    @classmethod
    def open_current(cls, root: Path) -> VectorIndex | None:
        path = current_build(root)
        return cls(path) if path else None

    def __len__(self) -> int:
        return int(self.meta["count"])

    @property
    def version(self) -> str:
        return str(self.meta["vector_version"])

    def search(
        self,
        query: np.ndarray,
        k: int,
        *,
        overfetch: int = 20,
        search_k: int = -1,
        accept: Callable[[int], bool] | None = None,
    ) -> list[Hit]:
        """The k best items by exact inner product among Annoy's over-fetched candidates."""
        want = max(k * overfetch, k + 10)
        positions = self.annoy.get_nns_by_vector(query, want, search_k=search_k)
        if not positions:
            return []
        positions_arr = np.asarray(positions, dtype=np.int64)
        scores = self.vectors[positions_arr] @ query
        order = np.argsort(-scores, kind="stable")
        hits: list[Hit] = []
        for i in order:
            track_id = int(self.ids[positions_arr[i]])
            if accept is None or accept(track_id):
                hits.append(Hit(track_id, float(scores[i]), int(positions_arr[i])))
                if len(hits) == k:
                    break
        return hits

    def close(self) -> None:
        self.annoy.unload()
