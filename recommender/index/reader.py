"""Reading a build: opened with mmap, checked against its manifest, searched chunk by
chunk best bound first (``layout`` says what is where)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from annoy import AnnoyIndex

from ..results import IndexInfo
from .layout import (
    _COPY_ROWS,
    ANNOY_DIR,
    BUILDS,
    CHECK_AT_OPEN_BYTES,
    LAYOUT,
    MAX_GROUPS,
    METRIC,
    PARTIAL,
    SOUND,
    Hit,
    IndexUnreadableError,
    VerifyStopped,
    _check_manifest,
    _chunks,
    _drop_pages,
    _finite_tagger,
    _increasing,
    _meta,
    _rows,
    _shaped,
    current_build,
)
from .tagger import TagModel
from .vectors import LabelProfile, VectorSpace

log = logging.getLogger(__name__)


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
            self._checked: set[str] = set()  # files whose checksum matched
            _check_manifest(
                path,
                self._files,
                up_to=CHECK_AT_OPEN_BYTES,
                deferred=ANNOY_DIR,
                checked=self._checked,
            )
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
        self._profile: LabelProfile | None = None
        self._profile_lock = threading.Lock()
        self.damaged = False  # a search met a row beyond its chunk's bound, or bad Annoy
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

    @property
    def _files(self) -> dict[str, Any]:
        return self._meta.get("files", {})

    def verify(self, stop: threading.Event | None = None) -> None:
        """The checks too slow for an open: every file's checksum (the Annoy files first,
        which searches otherwise check as they need them), and every vector finite.
        Raises IndexUnreadableError naming the first damaged file, or VerifyStopped once
        ``stop`` is set."""
        try:
            _check_manifest(
                self.path, self._files, up_to=float("inf"), stop=stop, checked=self._checked
            )
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

    def label_profile(self) -> LabelProfile:
        """Per label, the labelled items that carry it and their typical sound; read from
        the vectors once (about a second per million items), then kept."""
        with self._profile_lock:
            if self._profile is None:
                profile = LabelProfile(self._space.labels)
                for first in range(0, len(self), _COPY_ROWS):
                    profile.add(np.asarray(self._vectors[first : first + _COPY_ROWS]))
                self._profile = profile
            return self._profile

    @property
    def has_label_profile(self) -> bool:
        return self._profile is not None

    def describe(self, labels: Sequence[int]) -> np.ndarray:
        """The search point for a description (genre, instrument, mood labels)."""
        return self._space.described(labels, self.label_profile().sound_of(labels))

    def steer_toward(self, query: np.ndarray, labels: Sequence[int], strength: float) -> np.ndarray:
        """A song's search point moved toward a description."""
        sound = self.label_profile().sound_of(labels)
        return self._space.steered(query, labels, sound, strength)

    def top_tags(self, frames: np.ndarray) -> list[int]:
        """The labels this build's tagger hears most confidently in ``frames``."""
        return self._space.top_tags(frames)

    def heard_tags(self, hit: Hit) -> list[int]:
        """The tags this build's tagger heard in an unlabelled item (a member's or a
        server's song), surest first."""
        return self._space.heard_tags(self.vector_of(hit))

    def sound_similarity(self, hit: Hit, query: np.ndarray) -> float:
        """How alike a hit and a query vector sound: the cosine of their sound blocks."""
        return self._space.sound_similarity(self.vector_of(hit), query)

    def is_close_sound(self, similarity: float) -> bool:
        """Whether a sound similarity is close enough to be a reason of its own."""
        return similarity >= self._space.close_sound

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
        """The Annoy index ``name``, loaded on first use, after its checksum (a small
        file's) matches the build's; IndexUnreadableError if it does not."""
        with self._annoy_lock:
            annoy = self._annoy.get(name)
            if annoy is None:
                file = f"{ANNOY_DIR}{name}.ann"
                try:
                    entry = {file: self._files[file]} if file in self._files else {}
                    _check_manifest(
                        self.path, entry, up_to=CHECK_AT_OPEN_BYTES, checked=self._checked
                    )
                except (OSError, ValueError) as exc:
                    raise self._unreadable(exc) from None
                annoy = AnnoyIndex(self.fine_dims, METRIC)
                if not annoy.load(str(self.path / file), prefault=False):
                    raise self._unreadable(f"{file} cannot be loaded")
                self._annoy[name] = annoy
            return annoy

    def _usable_annoy(self, name: str) -> AnnoyIndex | None:
        """``_annoy_of(name)``, or None (logged once, the build marked damaged) when the
        file is damaged: the caller scans exactly instead, and ``verify`` names it."""
        try:
            return self._annoy_of(name)
        except IndexUnreadableError as exc:
            if not self.damaged:
                log.error("%s; searching around it", exc)
            self.damaged = True
            return None

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
            annoy = None if number < 0 else self._usable_annoy(str(number))
            if annoy is None:  # a chunk scanned whole (as a damaged group's is)
                rows = np.arange(start, end)
            else:
                found = annoy.get_nns_by_vector(query[: self.fine_dims], want, search_k=search_k)
                rows = np.sort(np.asarray(found, dtype=np.int64)) + start
            self._offer(best, rows, query, k, accept, float(bounds[chunk]))
        sound = None if proven else self._usable_annoy(SOUND)
        if sound is not None:
            found = sound.get_nns_by_vector(query[: self.fine_dims], want, search_k=search_k)
            rows = np.sort(np.asarray(found, dtype=np.int64))
            rows = rows[(rows >= 0) & (rows < len(self))]
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
