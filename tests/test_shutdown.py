"""bot.shutdown: a stop that cannot hang. Run in a child process, since a forced stop ends
the process it runs in. And a clean stop while a listening worker is stalled."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures.process import _ExecutorManagerThread
from pathlib import Path

import pytest

from recommender.listening.workers import ListenersStoppedError, WorkerConfig, WorkerPool
from recommender.sources.youtube import FetchOptions
from scripts.standins.bot_process import BotProcess
from scripts.standins.cli import ROOT
from scripts.standins.discord_api import FakeDiscord
from scripts.standins.http_range import RangeServer
from scripts.standins.media import make_song
from tests.test_bot import listening_env, member

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


def test_an_async_generator_whose_cleanup_will_not_end_is_left_behind(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The teardown closes the async generators still open; one whose cleanup waits on
    something that never comes (as a task can) must not hold the process either."""
    from bot.shutdown import run

    async def stubborn() -> AsyncIterator[int]:
        try:
            yield 1
        finally:
            await asyncio.get_running_loop().create_future()  # never done

    open_generators: list[AsyncIterator[int]] = []

    async def main() -> None:
        generator = stubborn()
        await anext(generator)  # suspended at its yield, still referenced
        open_generators.append(generator)

    with caplog.at_level(logging.WARNING, logger="bot"):
        # In a thread, so that a teardown that hangs fails the test instead of hanging it.
        running = threading.Thread(target=run, args=(main(),), kwargs={"teardown_s": 0.5})
        running.daemon = True
        running.start()
        running.join(30)  # only guards against a hang: the teardown takes 0.5 s
    assert not running.is_alive()
    assert "left behind at exit, still running" in caplog.text
    assert "shutdown_asyncgens" in caplog.text


# --- a stop while a listening worker is stalled ------------------------------------------


def _stall(config: WorkerConfig, started: Path) -> None:
    """A job that does not end on its own, as a download from a server that went silent."""
    started.touch()
    time.sleep(3600)


def _managers() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if isinstance(t, _ExecutorManagerThread)}


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return "zombie" in Path(f"/proc/{pid}/status").read_text().lower()


async def test_a_closed_pool_leaves_nothing_the_exit_would_wait_for(
    tmp_path: Path, pca_params: Path
) -> None:
    """At exit the interpreter joins a process pool's manager thread and its worker
    processes without a time limit, so a stalled job would hold the exit for as long as it
    stalls. close() ends them all, without holding up the event loop meanwhile; the jobs
    end with ListenersStoppedError, and no job starts a worker afterwards."""
    fetch = FetchOptions(
        ffmpeg="ffmpeg", max_video_seconds=600, section_seconds=5, section_count=1, max_bytes=1
    )
    config = WorkerConfig(model="unused", pca_params=pca_params, data_dir=tmp_path, fetch=fetch)
    pool = WorkerPool(config, workers=1)
    managers = _managers()
    started = tmp_path / "started"
    # One runs; the others wait for the one worker, in the pool's queues.
    jobs = [asyncio.ensure_future(pool.run(_stall, started, timeout_s=3600)) for _ in range(3)]
    deadline = time.monotonic() + 120  # only guards against a hang: a worker starts in ~2 s
    while not started.exists():
        assert time.monotonic() < deadline, "the job did not start"
        await asyncio.sleep(0.05)
    workers = pool.pids()
    assert workers and _managers() - managers

    gaps: list[float] = []

    async def tick() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.05)
            gaps.append(time.monotonic() - last)
            last = time.monotonic()

    ticking = asyncio.ensure_future(tick())
    await asyncio.sleep(0.2)
    await pool.close()
    await asyncio.sleep(0.2)  # a close that held the loop shows as the tick after it
    ticking.cancel()
    # A tick takes 0.05 s on an idle machine; joining the busy worker on the loop took 5 s.
    assert gaps and max(gaps) < 2.5, max(gaps, default=None)
    assert all(_gone(pid) for pid in workers)
    assert not _managers() - managers
    for job in jobs:
        with pytest.raises(ListenersStoppedError):
            await job
    with pytest.raises(ListenersStoppedError):
        await pool.run(_stall, started, timeout_s=3600)
    assert pool.started == 1 and not pool.pids()


STALLED_SONGS = ["stalled0001", "stalled0002", "stalled0003"]


def test_a_bot_stopped_while_its_listening_workers_are_stalled_exits_cleanly(
    built_catalog: Path, fake_vggish: Path, pca_params: Path, tmp_path: Path
) -> None:
    """Two members' new songs are stuck in their downloads, a third waits for one of the
    two listening slots. The close ends the stuck jobs, which frees the slots: the waiting
    song must not start a new worker then (one did, and the exit waited on its stalled
    job until the 30 s bound cut it off, with exit code 1)."""
    data = tmp_path / "data"
    shutil.copytree(built_catalog, data)
    media = tmp_path / "media"
    media.mkdir()
    for n, song in enumerate(STALLED_SONGS):
        make_song(media / f"{song}.mp3", 6.0, tone=196.0 + 40.0 * n)
    with FakeDiscord() as discord, RangeServer(media) as youtube:
        youtube.stall_s = 300.0  # the YouTube stand-in stops answering, past the stop
        bot = BotProcess(
            discord,
            data,
            tmp_path / "bot.log",
            MAX_CONCURRENT_REQUESTS="2",
            REQUEST_TIMEOUT_SECONDS="200",
            **listening_env(youtube, fake_vggish, pca_params),
        )
        bot.start()
        try:
            for song in STALLED_SONGS:
                discord.interaction(member(), "recommend", song=song)
            # Only guards against a hang: both workers start and ask within ~10 s.
            discord.wait_for(lambda: len(youtube.requests) >= 2, 120, "the downloads")
        except BaseException:
            bot.kill()
            raise
        started = time.monotonic()
        code = bot.stop()
        took = time.monotonic() - started
    log = (tmp_path / "bot.log").read_text()
    assert code == 0, log[-3000:]
    # The README's bound; the stop takes ~5.5 s (the 5 s given to the stalled workers).
    assert took < 30
    assert "starting the listening workers" not in log[log.index("SIGTERM: stopping") :]
