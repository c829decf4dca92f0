"""The index: built once beside the live one, swapped in atomically, opened with mmap.

An index vector is a fine block (the sound, ``FINE_DIMS`` wide) followed by a routing block
(the tags). The score is the inner product, and the routing block carries almost all of it,
so the build splits the catalog by routing vector:

- items that share one routing vector exactly (catalog clips with the same label set) form
  a group; their scores differ only by the fine block;
- the rest (tags predicted, all different) are clustered with k-means on the routing block.

Each group or cluster is cut into scan chunks of at most ``SCAN_ROWS`` rows, except that a
shared-vector group of ``ANNOY_FROM`` rows or more gets its own Annoy index over the fine
block. A lookup bounds every chunk's best possible score from its per-dimension extremes
(exact for a shared-vector group), then visits chunks best bound first: it scans a chunk
exactly, or asks the chunk's Annoy index for over-fetched candidates and re-ranks them
exactly, and stops when no unvisited chunk can beat the k-th best score found. If it
visits ``max_groups`` chunks first (a query whose tags are all weak, so that only the
sound decides and every chunk looks alike), an Annoy index over every row's fine block
adds its candidates. Rows are stored in chunk order, so a scan reads one contiguous slice.

On disk, under ``DATA_DIR/index``::

    CURRENT                 the live build's name, replaced with os.replace
    builds/<name>/          one immutable build
        vectors.npy         the exact vectors, in chunk order
        ids.npy             row -> track id
        by_id.npy           rows sorted by track id (to find a track's row)
        chunks.npz          per chunk: rows, routing upper and lower bounds, fine norm, Annoy
        annoy/<n>.ann       Annoy (inner product) over the fine block of one large group
        annoy/sound.ann     the same over every row
        tagger.npz          the tag model the vectors were made with
        meta.json           count, trees, built at, vector version, timings, and every
                            file's size and sha256 (the manifest)

A build is written to ``builds/<name>.partial`` and renamed when complete, so a crash
mid-build leaves the old index serving; a reader that has the old build open keeps its mmap.

A damaged build is unreadable, never fatal: opening it checks every file's size, the
checksums of the small files and the shapes and ranges of what it loads, and ``verify``
checks the large files too (the engine runs it in the background after opening, and the
doctor runs it); either raises ``IndexUnreadableError`` naming the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import mmap
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from annoy import AnnoyIndex

from ..processes import process_alive
from ..results import IndexInfo
from .tagger import TagModel
from .vectors import SOUND_DIMS, VectorSpace

log = logging.getLogger(__name__)

LAYOUT = "earshot-chunks-v1"
METRIC = "dot"
CURRENT = "CURRENT"
BUILDS = "builds"
PARTIAL = ".partial"
FINE_DIMS = SOUND_DIMS
SCAN_ROWS = 1024  # rows per scanned chunk: about 1 MB of vectors
ANNOY_FROM = 2048  # a shared-vector group this large is searched through Annoy
SHARED_FROM = 32  # rows sharing one routing vector before they form a group of their own
CLUSTER_ROWS = 512  # mean k-means cluster size for the rest
MAX_GROUPS = 32  # chunks a lookup visits at most
# Annoy seeds each build thread with seed + thread number, so its trees depend on the
# thread count: a fixed count gives one seeded build the same trees on any machine
# (n_jobs=-1, one thread per core, would not). Four keeps a build parallel where it counts.
BUILD_THREADS = 4
SOUND = "sound"  # the Annoy index over every row's fine block
_COPY_ROWS = 50_000
_STAGING = "staging-vectors.f32"
CHECK_AT_OPEN_BYTES = 64 << 20  # files up to this size have their checksum checked at open
PARTIAL_STALE_S = 3600.0  # another host's partial build untouched this long was abandoned


class IndexUnreadableError(RuntimeError):
    """The index is missing, damaged or cannot be read; the message names the file."""


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


def _drop_pages(array: np.ndarray) -> None:
    """Unmap a file-backed array's resident pages from this process (they stay in the page
    cache, written back as usual), so streaming a large file keeps the build's memory flat."""
    mapping = getattr(array, "_mmap", None)
    if mapping is not None and hasattr(mapping, "madvise"):
        mapping.madvise(mmap.MADV_DONTNEED)


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


def _remove_partials(builds: Path) -> None:
    """Remove builds left half-made by a rebuild that died, never another's in progress."""
    for child in builds.glob("*" + PARTIAL):
        if _abandoned(child):
            shutil.rmtree(child, ignore_errors=True)


def _abandoned(partial: Path) -> bool:
    """A partial build whose writer (named after the time stamp: pid@host) is a process of
    this host that is gone, or any partial build untouched for PARTIAL_STALE_S."""
    owner = partial.name[: -len(PARTIAL)][len("YYYYmmdd-HHMMSS.nnnnnnnnn-") :]
    pid, _, host = owner.partition("@")
    if host == socket.gethostname() and pid.isdigit():
        return not process_alive(int(pid))
    try:
        return time.time() - partial.stat().st_mtime > PARTIAL_STALE_S
    except FileNotFoundError:
        return False


class VerifyStopped(Exception):
    """``verify`` was asked to stop (the process is closing)."""


def _sha256(path: Path, stop: threading.Event | None = None) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(8 << 20):
            if stop is not None and stop.is_set():
                raise VerifyStopped()
            digest.update(block)
    return digest.hexdigest()


def _manifest(build: Path) -> dict[str, dict[str, Any]]:
    return {
        str(p.relative_to(build)): {"size": p.stat().st_size, "sha256": _sha256(p)}
        for p in sorted(build.rglob("*"))
        if p.is_file() and p.name != "meta.json"
    }


def _check_manifest(
    build: Path, files: dict[str, Any], *, up_to: float, stop: threading.Event | None = None
) -> None:
    """Every file there in full, and the checksum of each up to ``up_to`` bytes (builds
    from before checksums list sizes alone)."""
    for name, entry in files.items():
        size = entry if isinstance(entry, int) else entry["size"]
        try:
            found = (build / name).stat().st_size
        except FileNotFoundError:
            raise ValueError(f"it is incomplete: {name} is missing") from None
        if found != size:
            raise ValueError(f"it is incomplete: {name} has {found} of {size} bytes")
        if (
            isinstance(entry, dict)
            and size <= up_to
            and _sha256(build / name, stop) != entry["sha256"]
        ):
            raise ValueError(f"{name} is damaged (its checksum does not match the build's)")


def _prune_builds(builds: Path, keep: set[str], retain: int = 1, grace_s: float = 0.0) -> None:
    """Delete old builds, keeping ``keep`` and the newest ``retain`` others, and any build
    superseded less than ``grace_s`` ago (processes on other hosts may still read it).

    Deleting is safe for readers on this host that still have an old build open: their
    mmap stays valid. Over shared storage it is not, hence the grace.
    """
    old = sorted(
        (
            p
            for p in builds.iterdir()
            if p.is_dir() and not p.name.endswith(PARTIAL) and p.name not in keep
        ),
        key=lambda p: p.name,
    )
    everything = sorted(
        (p for p in builds.iterdir() if p.is_dir() and not p.name.endswith(PARTIAL)),
        key=lambda p: p.name,
    )
    now = time.time()
    for path in old[: max(len(old) - retain, 0)]:
        successors = [p for p in everything if p.name > path.name]
        if grace_s > 0 and successors and now - successors[0].stat().st_mtime < grace_s:
            continue
        shutil.rmtree(path, ignore_errors=True)


def current_build(root: Path) -> Path | None:
    pointer = root / CURRENT
    try:
        name = pointer.read_text().strip()
    except FileNotFoundError:
        return None
    path = root / BUILDS / name
    return path if path.is_dir() else None


def _meta(text: str) -> dict[str, Any]:
    meta = json.loads(text)
    if not isinstance(meta, dict):
        raise ValueError("not a JSON object")
    return meta


def _shaped(array: np.ndarray, shape: tuple[int, ...], dtype: Any = np.int64) -> np.ndarray:
    if array.shape != shape or array.dtype != dtype:
        raise ValueError(
            f"holds {array.dtype}{list(array.shape)}, expected {np.dtype(dtype)}{list(shape)}"
        )
    return array


def _rows(by_id: np.ndarray, count: int) -> np.ndarray:
    _shaped(by_id, (count,))
    if count and (by_id.min() < 0 or by_id.max() >= count):
        raise ValueError("points outside the build's rows")
    return by_id


def _increasing(sorted_ids: np.ndarray) -> np.ndarray:
    if len(sorted_ids) > 1 and not (np.diff(sorted_ids) > 0).all():
        raise ValueError("track ids are not each in the build once")
    return np.asarray(sorted_ids)


def _finite_tagger(tagger: TagModel) -> TagModel:
    for name, array in tagger._arrays().items():
        if name != "labels" and not np.isfinite(array).all():
            raise ValueError(f"its {name} is not finite")
    return tagger


def _chunks(path: Path, count: int) -> tuple[np.ndarray, ...]:
    with np.load(path) as chunks:
        start, end, annoy = chunks["start"], chunks["end"], chunks["annoy"]
        arrays = [chunks[k] for k in ("upper", "lower", "fine_norm")]
    n = len(start)
    if any(len(a) != n for a in (end, *arrays, annoy)):
        raise ValueError("its arrays disagree in length")
    if n and (start.min() < 0 or end.max() > count or (end <= start).any()):
        raise ValueError("a chunk lies outside the build's rows")
    if not all(np.isfinite(a).all() for a in arrays):
        raise ValueError("a chunk's bounds are not finite")
    return (start, end, *arrays, annoy)


class _Best:
    """The k best (row, score) pairs seen so far; ``floor`` is the k-th score once full."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.rows = np.zeros(0, dtype=np.int64)
        self.scores = np.zeros(0, dtype=np.float32)
        self.floor = -np.inf

    def add(self, rows: np.ndarray, scores: np.ndarray) -> None:
        if not len(rows):
            return
        rows = np.concatenate([self.rows, rows])
        scores = np.concatenate([self.scores, scores])
        rows, first = np.unique(rows, return_index=True)  # a row offered twice counts once
        scores = scores[first]
        if len(rows) > self.k:
            top = np.argpartition(-scores, self.k - 1)[: self.k]
            rows, scores = rows[top], scores[top]
        self.rows, self.scores = rows, scores
        if len(rows) == self.k:
            self.floor = float(scores.min())


class VectorIndex:
    """A read-only, memory-mapped build."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if not (path / "meta.json").is_file():
            raise self._unreadable("it is incomplete: meta.json is missing")
        self._meta: dict[str, Any] = self._load("meta.json", lambda f: _meta(f.read_text()))
        try:
            if self._meta.get("layout") != LAYOUT:
                raise ValueError(
                    f"it was built by another version of earshot (layout "
                    f"{self._meta.get('layout')!r}, this version reads {LAYOUT!r})"
                )
            count, dim = int(self._meta["count"]), int(self._meta["dim"])
            _check_manifest(path, self._meta.get("files", {}), up_to=CHECK_AT_OPEN_BYTES)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise self._unreadable(exc) from None
        self._tagger = self._load("tagger.npz", lambda f: _finite_tagger(TagModel.load(f)))
        self._ids = self._load("ids.npy", lambda f: _shaped(np.load(f, mmap_mode="r"), (count,)))
        self._by_id = self._load("by_id.npy", lambda f: _rows(np.load(f), count))
        self._sorted_ids = self._load("ids.npy", lambda f: _increasing(self._ids[self._by_id]))
        self._vectors = self._load(
            "vectors.npy", lambda f: _shaped(np.load(f, mmap_mode="r"), (count, dim), np.float32)
        )
        self._start, self._end, self._upper, self._lower, self._fine_norm, self._annoy_file = (
            self._load("chunks.npz", lambda f: _chunks(f, count))
        )
        self.fine_dims = int(self._meta["fine_dims"])
        self._space = VectorSpace(self._tagger, float(self._meta["audio_weight"]))
        self._annoy: dict[str, AnnoyIndex] = {}
        self._annoy_lock = threading.Lock()
        self.damaged = False  # a search met a row beyond its chunk's bound
        self.stands_in_for = ""  # why CURRENT is not the build serving, when it is not

    def _unreadable(self, reason: object) -> IndexUnreadableError:
        return IndexUnreadableError(
            f"index build {self.path} cannot be read: {reason}; "
            "rebuild it with `python -m recommender reindex`"
        )

    def _load(self, name: str, read: Callable[[Path], Any]) -> Any:
        """``read(file)``, any failure of it an IndexUnreadableError naming the file: a
        damaged file can fail numpy and zipfile in many ways, and none may be fatal."""
        try:
            return read(self.path / name)
        except Exception as exc:
            raise self._unreadable(f"{name} is damaged ({type(exc).__name__}: {exc})") from None

    def verify(self, stop: threading.Event | None = None) -> None:
        """The checks too slow for an open: every file's checksum, and every vector finite.
        Raises IndexUnreadableError naming the first damaged file, or VerifyStopped once
        ``stop`` is set."""
        try:
            _check_manifest(self.path, self._meta.get("files", {}), up_to=float("inf"), stop=stop)
        except (OSError, ValueError) as exc:
            raise self._unreadable(exc) from None
        for first in range(0, len(self), _COPY_ROWS):
            if stop is not None and stop.is_set():
                raise VerifyStopped()
            block = np.asarray(self._vectors[first : first + _COPY_ROWS])
            if not np.isfinite(block).all():
                raise self._unreadable("vectors.npy is damaged (a vector is not finite)")
            _drop_pages(self._vectors)

    @property
    def info(self) -> IndexInfo:
        """What the build says about itself: size, layout, timings, when, which vectors."""
        return IndexInfo.from_meta(self._meta)

    @property
    def dim(self) -> int:
        return int(self._vectors.shape[1])

    def vector_at(self, row: int) -> np.ndarray:
        return np.asarray(self._vectors[row])

    def vector_of(self, hit: Hit) -> np.ndarray:
        """The exact vector behind a search hit."""
        return self.vector_at(hit.position)

    def vectors_of(self, track_ids: Sequence[int]) -> np.ndarray:
        """The vectors of the tracks in this build (absent ones left out), in row order."""
        rows = self.positions_of(list(track_ids))
        return np.asarray(self._vectors[np.sort(rows[rows >= 0])])

    def copy_rows(self, start: int = 0, end: int | None = None) -> np.ndarray:
        """A copy of rows [start, end) in memory (to hand to another index library)."""
        return np.array(self._vectors[start:end])

    def track_at(self, row: int) -> int:
        return int(self._ids[row])

    def query_vector(self, frames: np.ndarray, known_labels: Sequence[int] = ()) -> np.ndarray:
        """The search point for a track's frames, in this build's vector space."""
        return self._space.query_vector(frames, known_labels)

    def top_tags(self, frames: np.ndarray) -> list[int]:
        """The labels this build's tagger hears most confidently in ``frames``."""
        return self._space.top_tags(frames)

    def sound_similarity(self, hit: Hit, query: np.ndarray) -> float:
        """How alike a hit and a query vector sound: the cosine of their sound blocks."""
        return self._space.sound_similarity(self.vector_of(hit), query)

    def cosine(self, hit: Hit, query: np.ndarray) -> float:
        """The cosine of a hit's whole vector and a query vector."""
        item = self.vector_of(hit)
        denominator = float(np.linalg.norm(item) * np.linalg.norm(query)) or 1.0
        return float(item @ query) / denominator

    def exact_search(self, query: np.ndarray, k: int, batch: int = 262_144) -> list[Hit]:
        """The true k best by a full scan (what search is measured against)."""
        query = np.asarray(query, dtype=np.float32)
        best = _Best(k)
        for first in range(0, len(self), batch):
            rows = np.arange(first, min(first + batch, len(self)))
            best.add(rows, self._vectors[rows[0] : rows[-1] + 1] @ query)
        order = np.lexsort((best.rows, -best.scores))
        return [
            Hit(int(self._ids[r]), float(s), int(r))
            for s, r in zip(best.scores[order], best.rows[order], strict=True)
        ]

    @classmethod
    def open_current(cls, root: Path, damaged: Collection[str] = ()) -> VectorIndex | None:
        """The build CURRENT names; if it is damaged (or named in ``damaged``), the newest
        earlier build that opens (logged), else the damage is raised."""
        path = current_build(root)
        if path is None:
            return None
        try:
            if path.name in damaged:
                raise IndexUnreadableError(f"index build {path} is damaged (found by verify)")
            return cls(path)
        except IndexUnreadableError as damage:
            for older in sorted((root / BUILDS).iterdir(), reverse=True):
                if older.name >= path.name or older.name.endswith(PARTIAL) or not older.is_dir():
                    continue
                if older.name in damaged:
                    continue
                try:
                    earlier = cls(older)
                except IndexUnreadableError:
                    continue
                earlier.stands_in_for = f"{damage}; serving the earlier build {older.name}"
                log.error("%s", earlier.stands_in_for)
                return earlier
            raise

    def __len__(self) -> int:
        return int(self._meta["count"])

    @property
    def version(self) -> str:
        return str(self._meta["vector_version"])

    def positions_of(self, track_ids: np.ndarray | list[int]) -> np.ndarray:
        """Rows of ``track_ids`` in this build; -1 where absent."""
        wanted = np.asarray(track_ids, dtype=np.int64)
        if not len(wanted):
            return np.zeros(0, dtype=np.int64)
        found = np.minimum(np.searchsorted(self._sorted_ids, wanted), len(self._sorted_ids) - 1)
        return np.where(self._sorted_ids[found] == wanted, self._by_id[found], -1)

    def _annoy_of(self, name: str) -> AnnoyIndex:
        with self._annoy_lock:
            annoy = self._annoy.get(name)
            if annoy is None:
                annoy = AnnoyIndex(self.fine_dims, METRIC)
                if not annoy.load(str(self.path / "annoy" / f"{name}.ann"), prefault=False):
                    raise IndexUnreadableError(
                        f"index build {self.path} has no readable annoy/{name}"
                    )
                self._annoy[name] = annoy
            return annoy

    def bounds(self, query: np.ndarray) -> np.ndarray:
        """Per chunk, the highest score any of its rows can reach for ``query``."""
        routing = query[self.fine_dims :]
        upper = self._upper @ np.maximum(routing, 0) + self._lower @ np.minimum(routing, 0)
        upper += self._fine_norm * float(np.linalg.norm(query[: self.fine_dims]))
        return upper + 1e-5 * (np.abs(upper) + 1.0)  # float32 rounding

    def search(
        self,
        query: np.ndarray,
        k: int,
        *,
        overfetch: int = 20,
        search_k: int = -1,
        max_groups: int = MAX_GROUPS,
        accept: Callable[[int], bool] | None = None,
    ) -> list[Hit]:
        """The k best items by inner product. Exact when the walk over chunks ends because
        no chunk left can compete; if ``max_groups`` cuts it short first, the sound index
        over the whole catalog adds its candidates (for queries whose tags are too weak
        to tell chunks apart, the sound alone decides)."""
        query = np.asarray(query, dtype=np.float32)
        bounds = self.bounds(query)
        best = _Best(k)
        want = max(k * overfetch, k + 10)
        proven = True
        for visited, chunk in enumerate(np.argsort(-bounds, kind="stable")):
            if bounds[chunk] <= best.floor:
                break
            if visited >= max_groups:
                proven = False
                break
            start, end = int(self._start[chunk]), int(self._end[chunk])
            number = int(self._annoy_file[chunk])
            if number < 0:
                rows = np.arange(start, end)
            else:
                found = self._annoy_of(str(number)).get_nns_by_vector(
                    query[: self.fine_dims], want, search_k=search_k
                )
                rows = np.sort(np.asarray(found, dtype=np.int64)) + start
            self._offer(best, rows, query, k, accept, float(bounds[chunk]))
        if not proven:
            found = self._annoy_of(SOUND).get_nns_by_vector(
                query[: self.fine_dims], want, search_k=search_k
            )
            rows = np.sort(np.asarray(found, dtype=np.int64))
            self._offer(best, rows, query, k, accept, float(bounds.max()))
        order = np.lexsort((best.rows, -best.scores))
        return [
            Hit(int(self._ids[r]), float(s), int(r))
            for s, r in zip(best.scores[order], best.rows[order], strict=True)
        ]

    def _offer(
        self,
        best: _Best,
        rows: np.ndarray,
        query: np.ndarray,
        k: int,
        accept: Callable[[int], bool] | None,
        bound: float,
    ) -> None:
        """Score candidate rows exactly and keep the best k (accepted) in ``best``. A row
        that beats its chunk's bound (or is not finite) is damaged: never served."""
        if not len(rows):
            return
        if rows[-1] - rows[0] + 1 == len(rows):  # a whole chunk: one contiguous read
            scores = self._vectors[rows[0] : rows[-1] + 1] @ query
        else:
            scores = self._vectors[rows] @ query
        sound = np.isfinite(scores) & (scores <= bound)
        if not sound.all():
            if not self.damaged:
                log.error(
                    "index build %s: vectors.npy is damaged (row %d scores beyond what the "
                    "build allows); those rows are skipped: rebuild it with "
                    "`python -m recommender reindex`",
                    self.path,
                    int(rows[np.flatnonzero(~sound)[0]]),
                )
            self.damaged = True
            rows, scores = rows[sound], scores[sound]
        keep = scores > best.floor
        rows, scores = rows[keep], scores[keep]
        if accept is not None and len(rows):
            rows, scores = self._accepted(rows, scores, k, accept)
        best.add(rows, scores)

    def _accepted(
        self, rows: np.ndarray, scores: np.ndarray, k: int, accept: Callable[[int], bool]
    ) -> tuple[np.ndarray, np.ndarray]:
        """The chunk's best k rows that ``accept`` lets through, asking best first."""
        kept: list[int] = []
        for i in np.argsort(-scores, kind="stable"):
            if accept(int(self._ids[rows[i]])):
                kept.append(int(i))
                if len(kept) == k:
                    break
        return rows[kept], scores[kept]

    def close(self) -> None:
        with self._annoy_lock:
            for annoy in self._annoy.values():
                annoy.unload()
            self._annoy.clear()
