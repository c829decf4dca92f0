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
checksums of the small files it loads and the shapes and ranges of what it loads; a small
Annoy file's checksum is checked when a search first needs it (a million-item build has
hundreds, and the start would wait on them), and a damaged one is passed over for an exact
scan of its rows; ``verify`` checks every file (the engine runs it in the background after
opening, Annoy files first, and the doctor runs it). Each raises ``IndexUnreadableError``
naming the file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import mmap
import os
import shutil
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..processes import process_alive
from .tagger import TagModel
from .vectors import SOUND_DIMS

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
MAX_GROUPS = 8  # chunks a lookup visits at most (bounds the tail: README, "Scale")
# Annoy seeds each build thread with seed + thread number, so its trees depend on the
# thread count: a fixed count gives one seeded build the same trees on any machine
# (n_jobs=-1, one thread per core, would not). Four keeps a build parallel where it counts.
BUILD_THREADS = 4
SOUND = "sound"  # the Annoy index over every row's fine block
ANNOY_DIR = "annoy/"  # the build's folder of Annoy files, as the manifest names them
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
    build: Path,
    files: dict[str, Any],
    *,
    up_to: float,
    stop: threading.Event | None = None,
    deferred: str | None = None,
    checked: set[str] | None = None,
) -> None:
    """Every file there in full, and the checksum of each up to ``up_to`` bytes (builds
    from before checksums list sizes alone). Files under the folder ``deferred`` have
    their size checked only; names in ``checked`` are skipped, and each file whose
    checksum matches is added to it."""
    for name, entry in files.items():
        size = entry if isinstance(entry, int) else entry["size"]
        try:
            found = (build / name).stat().st_size
        except FileNotFoundError:
            raise ValueError(f"it is incomplete: {name} is missing") from None
        if found != size:
            raise ValueError(f"it is incomplete: {name} has {found} of {size} bytes")
        if (
            not isinstance(entry, dict)
            or size > up_to
            or (deferred is not None and name.startswith(deferred))
            or (checked is not None and name in checked)
        ):
            continue
        if _sha256(build / name, stop) != entry["sha256"]:
            raise ValueError(f"{name} is damaged (its checksum does not match the build's)")
        if checked is not None:
            checked.add(name)


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
