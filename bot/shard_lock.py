"""One bot process per shard on one DATA_DIR.

Two processes that serve the same shards both receive every interaction: one answers and
the other is refused by Discord ("already acknowledged"), for half of all requests. So a
process takes a POSIX record lock on one byte per shard it serves (all of them without
SHARD_IDS) in DATA_DIR/bot-shards.lock, and a second process for any of those shards is
refused at start-up. The kernel drops the locks when the process ends, however it ends;
processes with disjoint SHARD_IDS share the folder as before.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import struct
from collections.abc import Sequence
from pathlib import Path

LOCK_NAME = "bot-shards.lock"


class ShardsTakenError(Exception):
    def __init__(
        self, data_dir: Path, shards: Sequence[int] | None, holder: int | None = None
    ) -> None:
        which = "its shards" if shards is None else "shard " + ", ".join(map(str, shards))
        who = f" (pid {holder} on {socket.gethostname()})" if holder else ""
        super().__init__(
            f"another earshot bot process{who} already serves {which} from {data_dir}: two "
            "would each receive every request, and Discord refuses the second answer. Stop "
            "the other one first, or give each process its own SHARD_IDS (README: Running "
            "past one machine)."
        )


class ShardLock:
    def __init__(self, fd: int) -> None:
        self._fd = fd

    def release(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)  # closing drops every lock this process holds on the file


def _lock(fd: int, shard: int | None) -> bool:
    """One shard's byte, or (None) every byte: False when another process holds any."""
    length, start = (0, 0) if shard is None else (1, shard)  # length 0: to the end, ever
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, length, start)
    except OSError:
        return False
    return True


# Linux's struct flock: l_type, l_whence, l_start, l_len, l_pid (native alignment), padded
# to its C size.
_FLOCK = "hhqqi"
_FLOCK_SIZE = 32


def _holder(fd: int, shard: int | None) -> int | None:
    """The pid of the process on this host that holds the lock ``_lock`` would take."""
    length, start = (0, 0) if shard is None else (1, shard)
    query = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, start, length, 0)
    try:
        answer = fcntl.fcntl(fd, fcntl.F_GETLK, query.ljust(_FLOCK_SIZE, b"\0"))
        kind, _, _, _, pid = struct.unpack(_FLOCK, answer[: struct.calcsize(_FLOCK)])
    except (OSError, struct.error):
        return None
    return pid if kind != fcntl.F_UNLCK and pid > 0 else None


def claim_shards(data_dir: Path, shard_ids: Sequence[int] | None) -> ShardLock:
    """Hold ``shard_ids`` (None: all) for this process; ShardsTakenError if another
    process on this DATA_DIR holds any of them."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    if shard_ids is None:
        if not _lock(fd, None):
            holder = _holder(fd, None)
            os.close(fd)
            raise ShardsTakenError(data_dir, None, holder)
        return ShardLock(fd)
    taken = [shard for shard in shard_ids if not _lock(fd, shard)]
    if taken:
        holder = _holder(fd, taken[0])
        os.close(fd)
        raise ShardsTakenError(data_dir, taken, holder)
    return ShardLock(fd)
