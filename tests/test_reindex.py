"""Rebuilding the index from the engine: in a child process, safe against races and kills."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest

from recommender.engine import Engine
from recommender.errors import EarshotError, ReindexRunningError
from tests.conftest import engine_settings


@pytest.fixture()
async def engine(built_catalog: Path, tmp_path: Path):
    data = tmp_path / "data"
    shutil.copytree(built_catalog, data)
    opened = await Engine.open(engine_settings(data_dir=data))
    yield opened
    await opened.close()


async def test_tracks_added_during_a_rebuild_wait_for_the_next_one(engine: Engine) -> None:
    before = await engine.store.count_tracks()
    progress: list[str] = []
    reading = asyncio.Event()

    def report(stage: str, done: int, total: int) -> None:
        progress.append(stage)
        reading.set()  # the rebuild has taken its snapshot of the catalog

    job = asyncio.create_task(engine.reindex(report))
    await asyncio.wait_for(reading.wait(), 60)
    with pytest.raises(ReindexRunningError, match="already running"):
        await engine.reindex()
    frames = np.random.default_rng(0).integers(0, 256, (20, 128), dtype=np.uint8)
    for i in range(5):  # members' songs arrive while the index is being built
        await engine.store.cache_song(
            f"membersong{i}", "m", frames, "t", "c", 20.0, join_catalog=True
        )
    built = await job
    assert built.count == before and {"reading", "training tagger", "vectors"} <= set(progress)
    assert len(engine.index) == before  # type: ignore[arg-type]
    built = await engine.reindex()
    assert built.count == before + 5


async def test_a_killed_rebuild_leaves_the_old_index_serving(engine: Engine) -> None:
    old = engine.index
    assert old is not None
    first = old.track_at(0)
    video = (await engine.store.tracks_by_ids([first]))[first].video_id
    job = asyncio.create_task(engine.reindex())
    for _ in range(600):  # until the child is at work: it has reported progress
        children = [p for p in multiprocessing.active_children() if p.name == "earshot-reindex"]
        if children and engine.reindex_progress not in (None, ("starting", 0, 0)):
            break
        await asyncio.sleep(0.05)
    assert children and engine.reindex_progress is not None
    os.kill(children[0].pid, signal.SIGKILL)
    with pytest.raises(EarshotError, match=r"stopped unexpectedly.*old index keeps serving"):
        await job
    assert engine.index is old
    result = await engine.recommend(video, 3)
    assert len(result.items) == 3
    built = await engine.reindex()  # and the next rebuild works
    assert built.count == len(old)


async def test_reindex_of_an_empty_catalog_says_what_to_run(tmp_path: Path) -> None:
    engine = await Engine.open(engine_settings(data_dir=tmp_path))
    try:
        with pytest.raises(EarshotError) as raised:
            await engine.reindex()
        assert "catalog is empty" in raised.value.operator_hint
    finally:
        await engine.close()


async def test_an_index_from_an_older_version_is_rebuilt_not_fatal(
    built_catalog: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Upgrading earshot over an index it cannot read: the engine opens without one (the
    bot says the index is missing) and reindex replaces it."""
    data = tmp_path / "data"
    shutil.copytree(built_catalog, data)
    settings = engine_settings(data_dir=data)
    (build,) = (data / "index" / "builds").iterdir()
    meta = json.loads((build / "meta.json").read_text())
    del meta["layout"]  # what a build from before the chunked layout looks like
    (build / "meta.json").write_text(json.dumps(meta))
    engine = await Engine.open(settings)
    try:
        assert engine.index is None
        assert "another version of earshot" in caplog.text
        rebuilt = await engine.reindex()
        assert engine.index is not None and rebuilt.count == meta["count"]
    finally:
        await engine.close()
