"""The index's face: build with ``IndexWriter``, open with ``VectorIndex`` (mmap), find the
live build with ``current_build``. ``layout`` holds the on-disk format and its checks,
``writer`` the build, ``reader`` the search."""

from __future__ import annotations

from .layout import (
    ANNOY_FROM,
    BUILD_THREADS,
    BUILDS,
    CHECK_AT_OPEN_BYTES,
    CURRENT,
    FINE_DIMS,
    LAYOUT,
    MAX_GROUPS,
    SCAN_ROWS,
    Hit,
    IndexUnreadableError,
    VerifyStopped,
    current_build,
)
from .reader import VectorIndex
from .writer import IndexWriter

__all__ = [
    "ANNOY_FROM",
    "BUILDS",
    "BUILD_THREADS",
    "CHECK_AT_OPEN_BYTES",
    "CURRENT",
    "FINE_DIMS",
    "LAYOUT",
    "MAX_GROUPS",
    "SCAN_ROWS",
    "Hit",
    "IndexUnreadableError",
    "IndexWriter",
    "VectorIndex",
    "VerifyStopped",
    "current_build",
]
