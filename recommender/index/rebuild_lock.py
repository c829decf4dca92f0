"""One rebuild at a time across every process and host that shares INDEX_DIR.

A lock file created with O_EXCL in the index folder names its holder; the holder
touches it while it builds, so a holder that died (killed, host lost) is noticed when
the file goes stale, or at once when the holder was a process on this host that is gone,
and its lock is taken over, one process at a time. O_EXCL creation is atomic on local
disks and on NFSv3+.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

from ..disk import describe_free, is_disk_full
from ..errors import EarshotError, ReindexRunningError
from ..processes import process_alive

log = logging.getLogger(__name__)

LOCK_NAME = "REBUILDING"
HEARTBEAT_S = 10.0
STALE_AFTER_S = 60.0
TAKEOVER_STALE_S = 30.0
UNNAMED_STALE_S = 5.0  # a holder writes its name within milliseconds of creating the file


def _holder(path: Path) -> dict:
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}


def _try_create(path: Path) -> bool:
    me = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
    except OSError as exc:  # no empty lock left behind to block the next rebuild
        path.unlink(missing_ok=True)
        if is_disk_full(exc):
            raise EarshotError(
                f"There is no disk space left to start a rebuild: {describe_free(path.parent)}. "
                "The old index keeps serving; free some space and run reindex again."
            ) from None
        raise
    return True


def _alive_here(holder: dict) -> bool:
    """False only for a holder on this host whose process is gone (a killed reindex)."""
    if holder.get("host") != socket.gethostname() or not isinstance(holder.get("pid"), int):
        return True
    return process_alive(holder["pid"])


def _stale(path: Path) -> bool:
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return True
    holder = _holder(path)
    if not holder and age > UNNAMED_STALE_S:  # its taker died before writing its name
        return True
    return age > STALE_AFTER_S or not _alive_here(holder)


def _take_over(path: Path) -> bool:
    """Replace a stale lock, one process at a time: the takeover file (O_EXCL, held for
    milliseconds) makes 'is it stale? remove it, create mine' one step, so two processes
    that both saw it stale cannot both end up holding the lock."""
    guard = path.with_name(path.name + ".takeover")
    with contextlib.suppress(FileNotFoundError):
        if time.time() - guard.stat().st_mtime > TAKEOVER_STALE_S:  # its taker died
            guard.unlink()
    try:
        os.close(os.open(guard, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:
        return False  # another process is taking over right now
    try:
        if not _stale(path):
            return False
        log.warning("taking over a rebuild lock left by %s", _holder(path))
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return _try_create(path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            guard.unlink()


def _acquire(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / LOCK_NAME
    if _try_create(path) or (_stale(path) and _take_over(path)):
        return path
    holder = _holder(path)
    for _ in range(20):  # its taker may still be writing its name (milliseconds)
        if holder:
            break
        time.sleep(0.01)
        holder = _holder(path)
    since = time.time() - float(holder.get("started", time.time()))
    where = f" on {holder['host']}" if holder.get("host") else ""
    raise ReindexRunningError(
        f"A reindex is already running{where} (started {since / 60:.0f} min ago); "
        "this one was not started."
    )


@contextlib.asynccontextmanager
async def rebuild_lock(root: Path) -> AsyncIterator[None]:
    path = await asyncio.to_thread(_acquire, root)

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            await asyncio.to_thread(os.utime, path)

    beating = asyncio.create_task(heartbeat())
    try:
        yield
    finally:
        beating.cancel()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
