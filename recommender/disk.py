"""A full disk, told apart from the failures it causes elsewhere.

Out of space, SQLite says "database or disk is full" (SQLITE_FULL), PostgreSQL raises
disk_full (SQLSTATE 53100), Python raises OSError ENOSPC or EDQUOT, and ffmpeg (under
yt-dlp) exits with AVERROR(ENOSPC), which a shell sees as code 228. Each would otherwise
read as something else: a locked database, a damaged file, a video that will not decode.
"""

from __future__ import annotations

import errno
import shutil
import sqlite3
from pathlib import Path

SQLITE_FULL = 13
POSTGRES_DISK_FULL = "53100"
NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# ffmpeg exits with its error code's low byte: AVERROR(ENOSPC) = -28, AVERROR(EDQUOT) = -122.
FFMPEG_NO_SPACE = tuple(f"ffmpeg exited with code {256 - code}" for code in NO_SPACE_ERRNOS)
_NO_SPACE_TEXT = (
    "no space left on device",
    "disk quota exceeded",
    "database or disk is full",
    *FFMPEG_NO_SPACE,
)
LOW_SPACE_BYTES = 1 << 20  # less than this left after a failed write: the disk is full


def _causes(error: BaseException) -> list[BaseException]:
    """The error, what it wraps (a driver error inside SQLAlchemy's, the exception
    inside yt-dlp's DownloadError) and what caused it, each once."""
    seen: list[BaseException] = []
    pending = [error]
    while pending:
        current = pending.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        exc_info = getattr(current, "exc_info", None)
        wrapped = exc_info[1] if isinstance(exc_info, tuple) and len(exc_info) > 1 else None
        pending += [getattr(current, "orig", None), wrapped, current.__cause__, current.__context__]
    return seen


def is_disk_full(error: BaseException) -> bool:
    """True when ``error`` (or anything it wraps) is a write refused for want of space."""
    for cause in _causes(error):
        if isinstance(cause, OSError) and cause.errno in NO_SPACE_ERRNOS:
            return True
        if (
            isinstance(cause, sqlite3.Error)
            and getattr(cause, "sqlite_errorcode", 0) == SQLITE_FULL
        ):
            return True
        if getattr(cause, "sqlstate", None) == POSTGRES_DISK_FULL:
            return True
        if any(text in str(cause).lower() for text in _NO_SPACE_TEXT):
            return True
    return False


def path_of(error: BaseException) -> Path | None:
    """The file a refused write was to, when the error names it."""
    for cause in _causes(error):
        if isinstance(cause, OSError) and cause.filename:
            return Path(str(cause.filename))
    return None


def free_bytes(path: Path) -> int | None:
    """Space left on the disk holding ``path`` (its nearest existing parent); None when
    that cannot be read."""
    for folder in (path, *path.parents):
        try:
            return shutil.disk_usage(folder).free
        except OSError:
            continue
    return None


def out_of_space(path: Path) -> bool:
    free = free_bytes(path)
    return free is not None and free < LOW_SPACE_BYTES


def describe_free(path: Path) -> str:
    """'the disk holding PATH (12 KiB free)', for operators."""
    free = free_bytes(path)
    if free is None:
        return f"the disk holding {path}"
    size = float(free)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            amount = f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
            return f"the disk holding {path} ({amount} free)"
        size /= 1024
    raise AssertionError("unreachable")
