"""Processes of this host, as lock holders and workers see them."""

from __future__ import annotations

import os


def process_alive(pid: int) -> bool:
    """Whether a process of this host is running (another user's counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True
