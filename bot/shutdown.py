"""Stopping on SIGTERM or SIGINT, within a bound.

The first signal starts a clean close (Discord's side, then the engine: queued writes, the
listeners, the database). A second signal, or a close still running after ``grace_s``, ends
the process at once: a service manager's stop must not hang, and the log then shows where
the close was waiting, for the operator (SQLite and PostgreSQL commit whole transactions, so
nothing is left half-written; the store logs any queued write it could not save)."""

from __future__ import annotations

import asyncio
import faulthandler
import logging
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger("bot")

GRACE_S = 30.0  # the store waits up to 15 s for queued writes; Discord's close takes ~1 s
STOPPED_BY_FORCE = 1


class Shutdown:
    def __init__(self, close: Callable[[], Awaitable[None]], grace_s: float = GRACE_S) -> None:
        self._close = close
        self.grace_s = grace_s
        self.closing: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.requested, signum)

    def requested(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if self.closing is None:
            log.info("%s: stopping (at most %.0f s)", name, self.grace_s)
            self.closing = asyncio.ensure_future(self._close())
            threading.Thread(target=self._watch, name="shutdown-watchdog", daemon=True).start()
        else:
            log.warning("%s again: stopping now, without waiting for the close", name)
            for handler in logging.getLogger().handlers:
                handler.flush()
            self._force()

    def _watch(self) -> None:
        threading.Event().wait(self.grace_s)
        # Straight to the file descriptor: the logging locks may be what the stop waits on.
        said = f"earshot did not stop within {self.grace_s:.0f} s; stopping now."
        os.write(2, f"{said} Where it was waiting:\n".encode())
        if self._loop is not None and self._loop.is_running():
            shown = threading.Event()
            self._loop.call_soon_threadsafe(self._show_tasks, shown)
            shown.wait(2.0)  # a loop blocked in a call cannot: the threads' stacks show it
        self._force(dump=True)

    @staticmethod
    def _show_tasks(shown: threading.Event) -> None:
        try:
            for task in asyncio.all_tasks():
                print(f"Task {task.get_name()}:", file=sys.stderr)
                task.print_stack(limit=8, file=sys.stderr)
        finally:
            shown.set()

    @staticmethod
    def _force(dump: bool = False) -> None:
        if dump:
            faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        sys.stderr.flush()
        os._exit(STOPPED_BY_FORCE)


TEARDOWN_S = 10.0  # after the close, for what is still running to end (all steps together)


def run(main: Coroutine[Any, Any, None], teardown_s: float = TEARDOWN_S) -> None:
    """``asyncio.run``, but its teardown is bounded: a task that does not end when
    cancelled (or an async generator's cleanup, or the default executor's threads) is
    left behind, named in the log, instead of holding the process forever.
    (One such: SQLAlchemy's graceful close of an aiosqlite connection whose query was
    cancelled can wait on a worker thread that has already stopped.)"""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(main)
    finally:
        try:
            deadline = loop.time() + teardown_s
            pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in pending:
                task.cancel()
            _wait(loop, pending, deadline)
            _wait(loop, [loop.create_task(loop.shutdown_asyncgens())], deadline)
            _wait(loop, [loop.create_task(loop.shutdown_default_executor())], deadline)
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _wait(loop: asyncio.AbstractEventLoop, tasks: list[asyncio.Task[Any]], deadline: float) -> None:
    if not tasks:
        return
    timeout = max(deadline - loop.time(), 0.1)
    _, stuck = loop.run_until_complete(asyncio.wait(tasks, timeout=timeout))
    for task in stuck:
        log.warning("left behind at exit, still running: %s", task.get_coro())
