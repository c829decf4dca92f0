"""bot.shutdown: a stop that cannot hang. Run in a child process, since a forced stop ends
the process it runs in."""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import sys
import time

import pytest

from scripts.standins.cli import ROOT

HANGING_CLOSE = """
import asyncio, logging, os, sys, threading
from bot.shutdown import Shutdown

async def close_that_hangs():
    await asyncio.to_thread(threading.Event().wait)  # a thread that never ends

async def main():
    shutdown = Shutdown(close_that_hangs, grace_s=float(sys.argv[1]))
    shutdown.install(asyncio.get_running_loop())
    print("ready", flush=True)
    await asyncio.sleep(3600)

logging.basicConfig(level=logging.INFO)
asyncio.run(main())
"""


def _start(grace_s: float) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", HANGING_CLOSE, str(grace_s)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline() == "ready\n"
    return process


def test_a_close_that_hangs_is_cut_off_after_the_grace_and_shows_where_it_waited() -> None:
    process = _start(grace_s=1.0)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "SIGTERM: stopping (at most 1 s)" in err
    assert "earshot did not stop within 1 s; stopping now. Where it was waiting:" in err
    assert err.index("Where it was waiting") < err.index("close_that_hangs")
    assert "in close_that_hangs" in err  # the waiting task's stack
    assert "concurrent/futures/thread.py" in err  # and the threads', from faulthandler


def test_a_second_signal_stops_at_once() -> None:
    process = _start(grace_s=600.0)
    process.send_signal(signal.SIGINT)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "SIGINT again: stopping now" in err
    assert "Where it was waiting" not in err


def test_a_task_that_will_not_end_is_left_behind_not_waited_for(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """As SQLAlchemy's graceful close of a cancelled aiosqlite connection can: it catches
    the cancellation and waits on a future nobody will complete."""
    from bot.shutdown import run

    async def stubborn() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await asyncio.get_running_loop().create_future()  # never done

    async def main() -> None:
        asyncio.get_running_loop().create_task(stubborn(), name="stubborn")
        await asyncio.sleep(0.1)

    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="bot"):
        run(main(), teardown_s=0.5)
    assert time.monotonic() - started < 30  # not forever (asyncio.run would hang here)
    assert "left behind at exit, still running" in caplog.text and "stubborn" in caplog.text
