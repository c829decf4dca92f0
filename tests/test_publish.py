"""The index past one machine: builds published to a shared INDEX_DIR, picked up by every
process atomically, never read half-copied, rebuilt once across hosts; and cooldowns that
every bot process agrees on (Redis)."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recommender.engine import Engine
from recommender.errors import ReindexRunningError
from recommender.index.rebuild_lock import (
    LOCK_NAME,
    STALE_AFTER_S,
    UNNAMED_STALE_S,
    _acquire,
    rebuild_lock,
)
from recommender.index.vector_index import BUILDS, IndexUnreadableError, VectorIndex, current_build
from tests.conftest import engine_settings
from tests.test_index import DIM, _build


def test_a_half_copied_build_is_refused_by_name(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    _build(tmp_path, rng.normal(size=(300, DIM)).astype(np.float32), np.arange(300))
    build = current_build(tmp_path)
    assert build is not None
    meta = json.loads((build / "meta.json").read_text())
    assert meta["files"]["vectors.npy"]["size"] == (build / "vectors.npy").stat().st_size
    with open(build / "vectors.npy", "r+b") as f:  # a copy that stopped part-way
        f.truncate(meta["files"]["vectors.npy"]["size"] // 2)
    with pytest.raises(IndexUnreadableError, match=r"incomplete: vectors.npy has \d+ of \d+"):
        VectorIndex(build)
    (build / "ids.npy").unlink()
    with pytest.raises(IndexUnreadableError, match=r"incomplete: ids\.npy is missing"):
        VectorIndex(build)


def test_a_shared_folder_keeps_superseded_builds_for_other_hosts(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for n in range(3):
        _build(
            tmp_path,
            rng.normal(size=(200, DIM)).astype(np.float32),
            np.arange(200) + n,
            prune_grace_s=600,
        )
    assert len(list((tmp_path / BUILDS).iterdir())) == 3  # nothing pruned within the grace
    builds = sorted((tmp_path / BUILDS).iterdir())
    for old in builds:
        os.utime(old, (time.time() - 700, time.time() - 700))  # the grace is over
    _build(tmp_path, rng.normal(size=(200, DIM)).astype(np.float32), np.arange(200), 600)
    assert len(list((tmp_path / BUILDS).iterdir())) == 2  # current + one previous


async def test_one_rebuild_at_a_time_across_processes(tmp_path: Path) -> None:
    async with rebuild_lock(tmp_path):
        with pytest.raises(ReindexRunningError, match="already running on "):
            async with rebuild_lock(tmp_path):
                pass
        assert (tmp_path / LOCK_NAME).exists()
    assert not (tmp_path / LOCK_NAME).exists()
    # A holder that died: its file goes stale and the next rebuild takes over.
    (tmp_path / LOCK_NAME).write_text(json.dumps({"host": "gone", "pid": 1, "started": 0}))
    stale = time.time() - STALE_AFTER_S - 5
    os.utime(tmp_path / LOCK_NAME, (stale, stale))
    async with rebuild_lock(tmp_path):
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()


def _contend(root: str, barrier: Any, won: Any) -> None:
    barrier.wait()
    try:
        _acquire(Path(root))
    except ReindexRunningError:
        pass
    else:
        with won.get_lock():
            won.value += 1
    barrier.wait()  # a winner lives on until both have tried (a dead one's lock is free)


def test_two_processes_never_both_take_over_a_stale_lock(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    for round_ in range(40):
        root = tmp_path / str(round_)
        root.mkdir()
        lock = root / LOCK_NAME
        lock.write_text(json.dumps({"host": "gone", "pid": 1, "started": 0}))
        stale = time.time() - STALE_AFTER_S - 5
        os.utime(lock, (stale, stale))
        barrier, won = context.Barrier(2), context.Value("i", 0)
        racers = [context.Process(target=_contend, args=(str(root), barrier, won)) for _ in "ab"]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join(30)
        assert won.value <= 1, f"round {round_}: both processes took the lock"


def _dead_pid() -> int:
    gone = subprocess.Popen(["true"])
    gone.wait()
    return gone.pid


async def test_a_killed_rebuild_on_this_host_leaves_nothing_in_the_way(tmp_path: Path) -> None:
    # Its lock, fresh but held by a process of this host that is gone: taken at once.
    (tmp_path / LOCK_NAME).write_text(
        json.dumps({"host": socket.gethostname(), "pid": _dead_pid(), "started": time.time()})
    )
    async with rebuild_lock(tmp_path):
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    # Killed between creating the lock and writing its name: an empty lock, taken once
    # it is a few seconds old rather than after STALE_AFTER_S.
    (tmp_path / LOCK_NAME).write_text("")
    with pytest.raises(ReindexRunningError):
        async with rebuild_lock(tmp_path):
            pass
    unnamed = time.time() - UNNAMED_STALE_S - 1
    os.utime(tmp_path / LOCK_NAME, (unnamed, unnamed))
    async with rebuild_lock(tmp_path):
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    # Its partial build goes; one in progress here, or another host's recent one, stays.
    builds = tmp_path / BUILDS
    builds.mkdir()
    host = socket.gethostname()
    dead = builds / f"20260101-000000.000000001-{_dead_pid()}@{host}.partial"
    running = builds / f"20260101-000000.000000002-{os.getppid()}@{host}.partial"
    elsewhere = builds / "20260101-000000.000000003-42@another-host.partial"
    for partial in (dead, running, elsewhere):
        partial.mkdir()
    rng = np.random.default_rng(0)
    _build(tmp_path, rng.normal(size=(50, DIM)).astype(np.float32), np.arange(50))
    assert not dead.exists() and running.exists() and elsewhere.exists()


async def test_a_build_published_by_one_process_is_picked_up_by_another(
    built_catalog: Path, tmp_path: Path
) -> None:
    shared = tmp_path / "shared-index"
    hosts = []
    for name in ("a", "b"):
        data = tmp_path / name
        shutil.copytree(built_catalog, data)
        shutil.rmtree(data / "index")
        hosts.append(engine_settings(data_dir=data, index_root=shared, index_watch_s=0.2))
    a, b = await Engine.open(hosts[0]), await Engine.open(hosts[1])
    try:
        assert a.index is None and b.index is None
        info = await a.reindex()
        for _ in range(600):  # b's watcher looks every 0.2 s (60 s: a hang guard)
            if b.index is not None:
                break
            await asyncio.sleep(0.1)
        assert b.index is not None and b.index.path == a.index.path
        assert len(b.index) == info.count
        # A second publish while b answers: every answer comes, from one build or the next.
        video = (await b.store.tracks_by_ids([1]))[1].video_id
        rebuild = asyncio.create_task(a.reindex())
        answers = []
        while not rebuild.done():
            answers.append(await b.recommend(video, 3))
            await asyncio.sleep(0.05)
        await rebuild
        assert answers and all(len(r.items) == 3 for r in answers)
        for _ in range(600):  # a hang guard, as above
            if b.index.path == a.index.path:
                break
            await asyncio.sleep(0.1)
        assert b.index.path == a.index.path
        both = await asyncio.gather(a.reindex(), b.reindex(), return_exceptions=True)
        refused = [r for r in both if isinstance(r, ReindexRunningError)]
        assert len(refused) == 1 and "already running on" in str(refused[0])  # across hosts
        # Three builds published to a shared folder: none pruned yet, others may read them.
        assert len([p for p in (shared / BUILDS).iterdir() if p.is_dir()]) == 3
    finally:
        await a.close()
        await b.close()


async def test_a_build_still_being_copied_is_served_once_whole(
    built_catalog: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An operator copies a build into the shared folder by hand, CURRENT first: the
    watcher refuses it (said once) until the last file is there in full, then swaps."""
    data = tmp_path / "data"
    shutil.copytree(built_catalog, data)
    source = current_build(data / "index")
    assert source is not None
    shared = tmp_path / "shared"
    shutil.copytree(data / "index", shared)
    settings = engine_settings(data_dir=data, index_root=shared, index_watch_s=0)
    engine = await Engine.open(settings)
    try:
        served = engine.index
        assert served is not None
        copy = shared / BUILDS / "20991231-000000.000000000-1"
        shutil.copytree(source, copy)
        vectors = (copy / "vectors.npy").read_bytes()
        (copy / "vectors.npy").write_bytes(vectors[: len(vectors) // 3])  # mid-copy
        (shared / "CURRENT").write_text(copy.name + "\n")
        assert not await engine.pick_up_published_index()
        assert not await engine.pick_up_published_index()
        assert engine.index is served
        assert sum("is whole" in r.message for r in caplog.records) == 1
        (copy / "vectors.npy").write_bytes(vectors)  # the copy completes
        assert await engine.pick_up_published_index()
        assert engine.index is not None and engine.index.path == copy
    finally:
        await engine.close()


async def test_cooldowns_are_shared_through_redis(
    built_catalog: Path, tmp_path: Path, redis_url: str
) -> None:
    data = tmp_path / "data"
    shutil.copytree(built_catalog, data)
    settings = engine_settings(data_dir=data, queue_url=redis_url, queue_name="earshot:cd")
    one, two = await Engine.open(settings), await Engine.open(settings)
    try:
        assert await two.cooldown_left(42) == 0
        await one.start_cooldown(42, 20)
        left = await two.cooldown_left(42)  # another process sees the same wait
        assert 19 < left <= 20
        assert await two.cooldown_left(43) == 0
    finally:
        await one.close()
        await two.close()


async def test_an_unreachable_redis_never_holds_up_the_cooldown_check(
    built_catalog: Path, tmp_path: Path
) -> None:
    """The check runs before Discord's 3-second deadline: it answers from this process."""
    from scripts.local_servers import free_port

    data = tmp_path / "data"
    shutil.copytree(built_catalog, data)
    url = f"redis://127.0.0.1:{free_port()}/0"
    engine = await Engine.open(engine_settings(data_dir=data, queue_url=url))
    try:
        started = time.monotonic()
        assert await engine.cooldown_left(9) == 0
        await engine.start_cooldown(9, 5)
        assert 4 < await engine.cooldown_left(9) <= 5
        # Milliseconds on an idle machine; Discord's deadline for the first answer is 3 s.
        assert time.monotonic() - started < 2.0
    finally:
        await engine.close()


async def test_without_redis_the_cooldown_is_this_processs_own(
    built_catalog: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(built_catalog, data)
    engine = await Engine.open(engine_settings(data_dir=data))
    try:
        await engine.start_cooldown(7, 5)
        assert 4 < await engine.cooldown_left(7) <= 5
    finally:
        await engine.close()
