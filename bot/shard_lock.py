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
from collections.abc import Sequence
from pathlib import Path

LOCK_NAME = "bot-shards.lock"


class ShardsTakenError(Exception):
    def __init__(self, data_dir: Path, shards: Sequence[int] | None) -> None:
        which = "its shards" if shards is None else "shard " + ", ".join(map(str, shards))
        super().__init__(
            f"another earshot bot process already serves {which} from {data_dir}: two would "
            "each receive every request, and Discord refuses the second answer. Stop the other "
            "one first, or give each process its own SHARD_IDS (README: Running past one "
            "machine)."
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


def claim_shards(data_dir: Path, shard_ids: Sequence[int] | None) -> ShardLock:
    """Hold ``shard_ids`` (None: all) for this process; ShardsTakenError if another
    process on this DATA_DIR holds any of them."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    if shard_ids is None:
        if not _lock(fd, None):
            os.close(fd)
            raise ShardsTakenError(data_dir, None)
        return ShardLock(fd)
    taken = [shard for shard in shard_ids if not _lock(fd, shard)]
    if taken:
        os.close(fd)
        raise ShardsTakenError(data_dir, taken)
    return ShardLock(fd)
