"""One rebuild at a time across every process and host that shares INDEX_DIR.

A lock file created with O_EXCL in the index folder names its holder; the holder
touches it while it builds, so a holder that died (killed, host lost) is noticed when
the file goes stale and its lock is taken over. O_EXCL creation is atomic on local
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

from .errors import ReindexRunningError

log = logging.getLogger(__name__)

LOCK_NAME = "REBUILDING"
HEARTBEAT_S = 10.0
STALE_AFTER_S = 60.0


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
    with os.fdopen(fd, "w") as f:
        json.dump(me, f)
    return True


def _acquire(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / LOCK_NAME
    if _try_create(path):
        return path
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        age = STALE_AFTER_S + 1  # released between the two looks
    if age > STALE_AFTER_S:
        holder = _holder(path)
        log.warning("taking over a rebuild lock left by %s (silent for %.0f s)", holder, age)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        if _try_create(path):
            return path
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
