"""A real, small filesystem (tmpfs) that tests fill up to see earshot run out of space."""

from __future__ import annotations

import errno
import os
import subprocess
import uuid
from pathlib import Path


class MountRefused(RuntimeError):
    """This machine does not let the tests mount a tmpfs (not root, or no CAP_SYS_ADMIN)."""


class SmallDisk:
    def __init__(self, path: Path, size_bytes: int) -> None:
        self.path = path
        self.size_bytes = size_bytes
        self._filler = path / f".filler-{uuid.uuid4().hex[:8]}"

    def mount(self) -> SmallDisk:
        self.path.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={self.size_bytes},mode=0700", "tmpfs", self.path],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise MountRefused(result.stderr.strip() or f"mount exited {result.returncode}")
        return self

    def grow(self, size_bytes: int) -> None:
        """Make the disk larger in place (an operator adding space)."""
        options = f"remount,size={size_bytes}"
        subprocess.run(["mount", "-o", options, self.path], check=True, capture_output=True)
        self.size_bytes = size_bytes

    def unmount(self) -> None:
        if subprocess.run(["umount", self.path], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", self.path], capture_output=True)  # still in use

    def fill(self) -> None:
        """Take every free byte: any later write on this disk fails with ENOSPC."""
        fd = os.open(self._filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (1 << 20, 4096, 1):
                block = b"\0" * size
                while True:
                    try:
                        os.write(fd, block)
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        break
        finally:
            os.close(fd)

    def free(self) -> None:
        """Give the space back."""
        self._filler.unlink(missing_ok=True)

    def __enter__(self) -> SmallDisk:
        return self.mount()

    def __exit__(self, *exc: object) -> None:
        self.unmount()
