"""Writing a build: vectors staged on disk, grouped and clustered into chunks, Annoy
where a group is large, then published atomically (``layout`` says where)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from annoy import AnnoyIndex

from .layout import (
    _COPY_ROWS,
    _STAGING,
    ANNOY_FROM,
    BUILD_THREADS,
    BUILDS,
    CLUSTER_ROWS,
    CURRENT,
    FINE_DIMS,
    LAYOUT,
    METRIC,
    PARTIAL,
    SCAN_ROWS,
    SHARED_FROM,
    SOUND,
    _drop_pages,
    _fsync_dir,
    _manifest,
    _prune_builds,
    _remove_partials,
)
from .tagger import TagModel
from .vectors import VectorSpace

log = logging.getLogger(__name__)


class _StagedRows:
    """Rows as they arrive, appended to a raw file and read back with pread: a build's
    scattered reads would otherwise map most of a memory-mapped file into the process."""

    def __init__(self, path: Path, dim: int) -> None:
        self.dim = dim
        self.row_bytes = dim * 4
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        os.posix_fadvise(self.fd, 0, 0, os.POSIX_FADV_RANDOM)
        self.rows = 0

    def append(self, rows: np.ndarray) -> None:
        data = np.ascontiguousarray(rows, dtype=np.float32).tobytes()
        written = 0
        while written < len(data):
            written += os.pwrite(self.fd, data[written:], self.rows * self.row_bytes + written)
        self.rows += len(rows)

    def block(self, first: int, count: int) -> np.ndarray:
        data = os.pread(self.fd, count * self.row_bytes, first * self.row_bytes)
        if len(data) != count * self.row_bytes:
            raise OSError(f"short read from the staged rows at row {first}")
        return np.frombuffer(data, dtype=np.float32).reshape(count, self.dim)

    def gather(self, rows: np.ndarray) -> np.ndarray:
        """Rows by number (any order), reading each run of consecutive rows at once."""
        order = np.argsort(rows, kind="stable")
        wanted = rows[order]
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        breaks = np.flatnonzero(np.diff(wanted) != 1) + 1
        for start, end in zip(
            np.concatenate([[0], breaks]).tolist(),
            np.concatenate([breaks, [len(wanted)]]).tolist(),
            strict=True,
        ):
            out[order[start:end]] = self.block(int(wanted[start]), end - start)
        return out

    def close(self) -> None:
        os.close(self.fd)


def _row_hashes(rows: np.ndarray) -> np.ndarray:
    """A 128-bit hash per row of float32 bits: equal rows, equal hashes (exact integer
    arithmetic, unlike a float projection)."""
    bits = np.ascontiguousarray(rows, dtype=np.float32).view(np.uint32).astype(np.uint64)
    multipliers = np.random.default_rng(12345).integers(
        1, 2**63, size=(rows.shape[1], 2), dtype=np.uint64
    ) | np.uint64(1)
    with np.errstate(over="ignore"):
        hashed = bits @ multipliers
    return np.ascontiguousarray(hashed).view(np.dtype((np.void, 16))).ravel()


def _kmeans(sample: np.ndarray, clusters: int, iterations: int = 8, seed: int = 0) -> np.ndarray:
    """Lloyd's k-means on a sample; returns the centres."""
    rng = np.random.default_rng(seed)
    centres = sample[rng.choice(len(sample), clusters, replace=False)].copy()
    for _ in range(iterations):
        nearest = _nearest(sample, centres)
        sums = np.zeros_like(centres)
        np.add.at(sums, nearest, sample)
        counts = np.bincount(nearest, minlength=clusters)
        filled = counts > 0
        centres[filled] = sums[filled] / counts[filled, None]
    return centres


def _nearest(rows: np.ndarray, centres: np.ndarray) -> np.ndarray:
    return np.argmax(rows @ centres.T - 0.5 * (centres * centres).sum(1), axis=1)


class IndexWriter:
    """Writes one build. Feed it vectors with ``add``; ``build``, then ``commit`` makes it
    live. Vectors are staged on disk, so memory stays bounded by the chunk being copied."""

    def __init__(
        self,
        root: Path,
        count: int,
        dim: int,
        trees: int,
        fine_dims: int = FINE_DIMS,
        prune_grace_s: float = 0.0,
    ) -> None:
        if count < 1:
            raise ValueError("an index needs at least one item")
        self.root = root
        self.trees = trees
        self.count = count
        self.dim = dim
        self.fine_dims = min(fine_dims, dim)
        builds = root / BUILDS
        builds.mkdir(parents=True, exist_ok=True)
        _remove_partials(builds)
        while True:  # names sort by time: pruning keeps the newest
            now = time.time_ns()
            stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now / 1e9))
            self.name = f"{stamp}.{now % 10**9:09d}-{os.getpid()}@{socket.gethostname()}"
            self.path = builds / (self.name + PARTIAL)
            try:
                self.path.mkdir()
                break
            except FileExistsError:
                continue
        self._ids = np.zeros(count, dtype=np.int64)
        try:
            self._staged = _StagedRows(self.path / _STAGING, dim)
        except BaseException:
            shutil.rmtree(self.path, ignore_errors=True)
            raise
        self.filled = 0
        self.stats: dict[str, Any] = {}
        self.prune_grace_s = prune_grace_s

    def add(self, track_ids: np.ndarray, vectors: np.ndarray) -> None:
        end = self.filled + len(track_ids)
        if end > self.count:
            raise ValueError(f"more items than announced ({end} > {self.count})")
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape != (len(track_ids), self.dim):
            raise ValueError(
                f"vectors of shape {vectors.shape}, expected ({len(track_ids)}, {self.dim})"
            )
        if not np.isfinite(vectors).all():
            bad = int(np.flatnonzero(~np.isfinite(vectors).all(1))[0])
            raise ValueError(f"track {int(track_ids[bad])} has a non-finite vector")
        self._staged.append(vectors)
        self._ids[self.filled : end] = track_ids
        self.filled = end

    def build(self, progress: Callable[[str, int, int], None] | None = None) -> float:
        """Group, order and write the rows, and build the large groups' Annoy indexes (the
        slow, blocking part). Returns seconds taken."""
        if self.filled != self.count:
            raise ValueError(f"announced {self.count} items, got {self.filled}")
        report = progress or (lambda stage, done, total: None)
        started = time.perf_counter()
        keys, shared_groups = self._group_keys(report)
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        ids = self._ids[order]
        np.save(self.path / "ids.npy", ids)
        np.save(self.path / "by_id.npy", np.argsort(ids, kind="stable"))
        del ids
        vectors = np.lib.format.open_memmap(
            self.path / "vectors.npy", mode="w+", dtype=np.float32, shape=(self.count, self.dim)
        )
        for first in range(0, self.count, _COPY_ROWS):
            rows = order[first : first + _COPY_ROWS]
            vectors[first : first + len(rows)] = self._staged.gather(rows)
            _drop_pages(vectors)
            report("ordering rows", first + len(rows), self.count)
        self._staged.close()
        (self.path / _STAGING).unlink()
        self._write_chunks(vectors, keys, shared_groups, report)
        vectors.flush()
        del vectors
        return time.perf_counter() - started

    def _group_keys(self, report: Callable[[str, int, int], None]) -> tuple[np.ndarray, int]:
        """A key per row: shared-vector groups first (0..shared-1), then k-means clusters."""
        routing = self.dim - self.fine_dims
        if routing == 0:
            return np.zeros(self.count, dtype=np.int64), 1
        parts = []
        for first in range(0, self.count, _COPY_ROWS):
            block = self._staged.block(first, min(_COPY_ROWS, self.count - first))
            parts.append(_row_hashes(block[:, self.fine_dims :]))
        hashes = np.concatenate(parts)
        del parts
        _, inverse, counts = np.unique(hashes, return_inverse=True, return_counts=True)
        del hashes
        inverse = inverse.ravel()
        shared_hash = counts >= SHARED_FROM
        group_of_hash = np.cumsum(shared_hash) - 1
        shared_groups = int(shared_hash.sum())
        keys = np.where(shared_hash[inverse], group_of_hash[inverse], -1).astype(np.int64)
        rest = np.flatnonzero(keys < 0)
        self.stats.update(shared_groups=shared_groups, clustered_rows=len(rest))
        if len(rest):
            clusters = max(1, len(rest) // CLUSTER_ROWS)
            rng = np.random.default_rng(0)
            sample_rows = np.sort(rng.choice(rest, min(len(rest), 64 * clusters), replace=False))
            report("clustering", 0, 1)
            sample = self._staged.gather(sample_rows)[:, self.fine_dims :]
            centres = _kmeans(sample, clusters)
            del sample
            for first in range(0, len(rest), _COPY_ROWS):
                rows = rest[first : first + _COPY_ROWS]
                block = self._staged.gather(rows)[:, self.fine_dims :]
                keys[rows] = shared_groups + _nearest(block, centres)
                report("clustering", first + len(rows), len(rest))
            self.stats["clusters"] = clusters
        return keys, shared_groups

    def _write_chunks(
        self,
        vectors: np.ndarray,
        keys: np.ndarray,
        shared_groups: int,
        report: Callable[[str, int, int], None],
    ) -> None:
        fine = self.fine_dims
        edges = np.flatnonzero(np.diff(keys)) + 1
        starts = np.concatenate([[0], edges]).tolist()
        ends = np.concatenate([edges, [self.count]]).tolist()
        chunk_start: list[int] = []
        chunk_end: list[int] = []
        annoy_file: list[int] = []
        (self.path / "annoy").mkdir()
        annoy_groups = annoy_rows = 0
        for start, end in zip(starts, ends, strict=True):
            shared = int(keys[start]) < shared_groups
            if shared and end - start >= ANNOY_FROM:
                number = annoy_groups
                annoy_groups += 1
                self._build_annoy(vectors, start, end, str(number))
                chunk_start.append(start)
                chunk_end.append(end)
                annoy_file.append(number)
                annoy_rows += end - start
            else:
                for first in range(start, end, SCAN_ROWS):
                    chunk_start.append(first)
                    chunk_end.append(min(first + SCAN_ROWS, end))
                    annoy_file.append(-1)
            _drop_pages(vectors)
            report("building chunks", end, self.count)
        upper = np.empty((len(chunk_start), self.dim - fine), dtype=np.float32)
        lower = np.empty_like(upper)
        fine_norm = np.empty(len(chunk_start), dtype=np.float32)
        for i, (start, end) in enumerate(zip(chunk_start, chunk_end, strict=True)):
            block = np.asarray(vectors[start:end])
            upper[i] = block[:, fine:].max(0)
            lower[i] = block[:, fine:].min(0)
            fine_norm[i] = np.sqrt((block[:, :fine] ** 2).sum(1).max())
            if i % 256 == 255:
                _drop_pages(vectors)
        np.savez(
            self.path / "chunks.npz",
            start=np.asarray(chunk_start, dtype=np.int64),
            end=np.asarray(chunk_end, dtype=np.int64),
            upper=upper,
            lower=lower,
            fine_norm=fine_norm,
            annoy=np.asarray(annoy_file, dtype=np.int32),
        )
        self.stats.update(
            chunks=len(chunk_start),
            annoy_groups=annoy_groups,
            annoy_rows=annoy_rows,
        )
        report("indexing sound", 0, 1)
        self._build_annoy(vectors, 0, self.count, SOUND)
        report("indexing sound", 1, 1)

    def _build_annoy(self, vectors: np.ndarray, start: int, end: int, name: str) -> None:
        """Annoy over the fine block of rows start..end (item i is row start + i)."""
        annoy = AnnoyIndex(self.fine_dims, METRIC)
        annoy.set_seed(42)
        annoy.on_disk_build(str(self.path / "annoy" / f"{name}.ann"))
        for first in range(start, end, _COPY_ROWS):
            block = np.asarray(vectors[first : min(first + _COPY_ROWS, end), : self.fine_dims])
            for i, row in enumerate(block, start=first - start):
                annoy.add_item(i, row)
            _drop_pages(vectors)
        annoy.build(self.trees, n_jobs=BUILD_THREADS)
        annoy.unload()

    def commit(self, tagger: TagModel, space: VectorSpace, extra: dict[str, Any]) -> Path:
        """Write the remaining files, fsync, rename the build and point CURRENT at it."""
        if not (self.path / "chunks.npz").exists():
            raise ValueError("commit before build")
        tagger.save(self.path / "tagger.npz")
        meta = {
            "layout": LAYOUT,
            "count": self.count,
            "dim": self.dim,
            "fine_dims": self.fine_dims,
            "trees": self.trees,
            "metric": METRIC,
            "vector_version": space.version,
            "audio_weight": space.audio_weight,
            "built_at": time.time(),
            **self.stats,
            **extra,
            # Every file and its size: a reader on another host refuses a build whose
            # files are not all there in full (copied by hand, or storage that lags).
            "files": _manifest(self.path),
        }
        (self.path / "meta.json").write_text(json.dumps(meta, indent=2))
        for child in [*self.path.iterdir(), *(self.path / "annoy").iterdir()]:
            if child.is_file():
                with open(child, "rb") as f:
                    os.fsync(f.fileno())
        _fsync_dir(self.path / "annoy")
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
        _prune_builds(self.root / BUILDS, keep={self.name}, grace_s=self.prune_grace_s)
        return final

    def abort(self) -> None:
        with contextlib.suppress(OSError):  # closed already
            self._staged.close()
        shutil.rmtree(self.path, ignore_errors=True)
