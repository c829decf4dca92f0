"""The engine listening to new videos: worker processes, cache, single flight, limits."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import shutil
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
import pytest

from recommender.engine import Engine
from recommender.errors import BusyError, UnknownVideoError
from recommender.listening.workers import DownloadCapError, ListenTimeoutError, WorkerCrashedError
from recommender.sources.youtube import VideoUnavailableError
from scripts.standins.cli import run_cli, run_json
from scripts.standins.http_range import RangeServer
from scripts.standins.media import make_song
from tests.conftest import engine_settings

IDS = {
    name: f"{name:_<11}"
    for name in (
        "first",
        "twice",
        "hang",
        "later",
        "busy0",
        "busy1",
        "busy2",
        "busy3",
        "busy4",
        "busy5",
        "busy6",
        "busy7",
        "busy8",
        "busy9",
        "busy10",
        "busy11",
        "busy12",
        "busy13",
        "busy14",
        "model",
        "crash",
        "after",
        "cold1",
        "cold2",
        "hog1",
        "hog2",
        "hog3",
        "other",
        "large",
    )
}


@pytest.fixture(scope="module")
def catalog(built_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("listen") / "data"
    shutil.copytree(built_catalog, data)
    return data


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("media")
    for i, video in enumerate(IDS.values()):
        make_song(root / f"{video}.mp3", 20.0, tone=110.0 * (1 + i % 5))
    (root / f"{IDS['large']}.mp3").unlink()
    make_song(root / f"{IDS['large']}.wav", 20.0)  # 176 kB a second: over a small cap fast
    return root


@pytest.fixture()
def server(media: Path):
    with RangeServer(media) as running:
        yield running


def _settings(data: Path, model: Path, pca: Path, server: RangeServer, **changes: object):
    settings = engine_settings(
        data_dir=data,
        vggish_model=str(model),
        pca_params=pca,
        allow_test_hosts=True,
        test_media_base=server.url(""),
        section_seconds=5,
        section_count=2,
        request_timeout_s=60.0,
    )
    return dataclasses.replace(settings, **changes)


@pytest.fixture()
async def engine(
    catalog: Path, fake_vggish: Path, pca_params: Path, server: RangeServer
) -> AsyncIterator[Engine]:
    opened = await Engine.open(_settings(catalog, fake_vggish, pca_params, server))
    yield opened
    await opened.close()


@asynccontextmanager
async def _opened(
    data: Path, model: Path, pca: Path, server: RangeServer, **changes: object
) -> AsyncIterator[Engine]:
    """An engine on these settings, closed afterwards (with the server unstalled)."""
    engine = await Engine.open(_settings(data, model, pca, server, **changes))
    try:
        yield engine
    finally:
        server.stall_s = 0
        await engine.close()


def _leftovers(data: Path) -> list[Path]:
    """Job folders (or files) left in the pools' temp folders."""
    root = data / "tmp"
    return [p for p in root.rglob("*") if p.is_file() or p.name.startswith("job-")]


def _probes(server: RangeServer, video: str) -> int:
    return sum(1 for path, header in server.requests if path == f"/{video}" and header is None)


async def test_new_video_is_listened_to_then_served_from_cache(
    engine: Engine, server: RangeServer
) -> None:
    video = IDS["first"]
    result = await engine.recommend(f"https://www.youtube.com/watch?v={video}", 5)
    assert result.query.source == "download" and result.query.title
    assert len(result.items) == 5 and video not in {i.video_id for i in result.items}
    before = len(server.requests)
    again = await engine.recommend(f"https://youtu.be/{video}", 5)
    assert again.query.source == "cache"
    assert len(server.requests) == before  # no download at all
    assert [i.track_id for i in again.items] == [i.track_id for i in result.items]
    assert not _leftovers(engine.settings.data_dir)  # temp files gone
    assert await engine.store.count_tracks("member") >= 1  # joins the catalog at reindex


async def test_simultaneous_requests_share_one_computation(
    engine: Engine, server: RangeServer
) -> None:
    video = IDS["twice"]
    results = await asyncio.gather(*(engine.recommend(video, 3) for _ in range(4)))
    assert _probes(server, video) == 1
    assert len({tuple(i.track_id for i in r.items) for r in results}) == 1


async def test_a_hanging_download_times_out_and_the_worker_is_replaced(
    catalog: Path, fake_vggish: Path, pca_params: Path, server: RangeServer
) -> None:
    async with _opened(catalog, fake_vggish, pca_params, server, request_timeout_s=20.0) as engine:
        await engine.listener.warm_up()  # the model loads within the limit; the download will not
        server.stall_s = 60
        with pytest.raises(ListenTimeoutError, match="longer than 20 seconds"):
            await engine.recommend(IDS["hang"], 3)
        server.stall_s = 0
        assert engine.listener.pool is not None and engine.listener.pool.replaced == 1
        await engine.listener.warm_up()  # the new worker's model load is not the song's time
        result = await engine.recommend(IDS["later"], 3)
        assert result.query.source == "download" and len(result.items) == 3
        assert not _leftovers(catalog)


async def test_a_worker_that_dies_mid_job_is_replaced(
    catalog: Path, fake_vggish: Path, pca_params: Path, server: RangeServer
) -> None:
    """A listening worker killed mid-job (as a crash in TensorFlow or the decoder would
    end it) answers with a clear message, and the next request gets a fresh worker."""
    async with _opened(
        catalog, fake_vggish, pca_params, server, max_concurrent_requests=1
    ) as engine:
        await engine.listener.warm_up()
        assert engine.listener.pool is not None
        workers = engine.listener.pool.pids()
        assert workers
        server.stall_s = 30
        job = asyncio.ensure_future(engine.recommend(IDS["crash"], 3))
        for _ in range(600):  # until the worker is inside the download (60 s: a hang guard)
            if any(path == f"/{IDS['crash']}" for path, _ in server.requests):
                break
            await asyncio.sleep(0.1)
        for worker in workers:
            os.kill(worker, signal.SIGKILL)
        with pytest.raises(WorkerCrashedError, match=r"stopped unexpectedly.*restarted"):
            await job
        server.stall_s = 0
        assert engine.listener.pool.replaced == 1
        result = await engine.recommend(IDS["after"], 3)
        assert result.query.source == "download" and len(result.items) == 3
        assert (
            await engine.store.cached_embedding(IDS["crash"], await engine.listener.model_version())
            is None
        )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return (
        Path(f"/proc/{pid}").exists()
        and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    )


async def test_workers_start_on_first_need_and_stop_when_idle(
    catalog: Path, fake_vggish: Path, pca_params: Path, server: RangeServer
) -> None:
    async with _opened(catalog, fake_vggish, pca_params, server, listen_idle_s=2.0) as engine:
        await engine.recommend(await _catalog_video(engine), 3)  # a catalog clip: no worker
        assert engine.listener.pool is None or not engine.listener.pool.pids()
        first = await engine.recommend(IDS["cold1"], 3)
        assert first.query.source == "download"
        assert engine.listener.pool is not None
        workers = engine.listener.pool.pids()
        assert workers and engine.listener.pool.started == 1
        for _ in range(200):  # idle for 2 s, then they exit
            if not engine.listener.pool.running and not any(_alive(pid) for pid in workers):
                break
            await asyncio.sleep(0.1)
        assert not engine.listener.pool.running and not any(_alive(pid) for pid in workers)
        second = await engine.recommend(IDS["cold2"], 3)  # started again, model loaded again
        assert second.query.source == "download" and len(second.items) == 3
        assert engine.listener.pool.started == 2


async def _catalog_video(engine: Engine) -> str:
    stats = await engine.store.tracks_by_ids([1])
    return stats[1].video_id


async def test_unavailable_video_is_refused_and_nothing_is_left(engine: Engine) -> None:
    with pytest.raises(VideoUnavailableError, match="unavailable"):
        await engine.recommend("zzzzzzzzz00", 3)
    assert (
        await engine.store.cached_embedding("zzzzzzzzz00", await engine.listener.model_version())
        is None
    )
    assert not _leftovers(engine.settings.data_dir)


async def test_a_song_is_refused_busy_on_the_wait_it_would_have(
    catalog: Path, fake_vggish: Path, pca_params: Path, server: RangeServer
) -> None:
    """Busy is decided by the wait, from how long songs take now, not by a count: the
    refusal says how long, and the first in line is never refused."""
    # A song takes about 4.5 s here on an idle machine (two answers held 2 s each): the
    # 25 s limit is 5 times that, and 13 songs ahead wait at least 26 s.
    async with _opened(
        catalog, fake_vggish, pca_params, server, max_concurrent_requests=1, request_timeout_s=25.0
    ) as engine:
        await engine.listener.warm_up()  # the model loaded first: the limit is a song's
        server.stall_s = 2.0
        await engine.recommend(IDS["busy0"], 2)  # how long a song takes, measured
        typical = engine.listener.pace.typical_s
        assert typical is not None and typical >= 2.0
        tasks = [asyncio.ensure_future(engine.recommend(IDS[f"busy{i}"], 2)) for i in range(1, 15)]
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    busy = [o for o in outcomes if isinstance(o, BusyError)]
    assert not isinstance(outcomes[0], BaseException), outcomes[0]  # nothing ahead of it
    assert isinstance(outcomes[-1], BusyError)  # thirteen songs of >= 2 s ahead: > 25 s
    assert all(isinstance(o, BusyError) or not isinstance(o, BaseException) for o in outcomes)
    said = str(busy[0])
    assert re.search(r"would wait about \d+ seconds for its turn\. Try again then", said), said


async def test_one_member_has_one_new_song_listened_to_at_a_time(
    catalog: Path, fake_vggish: Path, pca_params: Path, server: RangeServer
) -> None:
    """A dozen links at once from one member must not take every listener: the first is
    listened to, the rest refused with why; another member's song goes ahead meanwhile."""
    async with _opened(
        catalog, fake_vggish, pca_params, server, max_concurrent_requests=1
    ) as engine:
        server.stall_s = 1.0
        hog = [
            asyncio.ensure_future(engine.recommend(IDS[f"hog{i}"], 2, member=7)) for i in (1, 2, 3)
        ]
        other = asyncio.ensure_future(engine.recommend(IDS["other"], 2, member=8))
        outcomes = await asyncio.gather(*hog, other, return_exceptions=True)
        served = [o for o in outcomes[:3] if not isinstance(o, BaseException)]
        refused = [o for o in outcomes[:3] if isinstance(o, BusyError)]
        assert len(served) == 1 and len(refused) == 2, outcomes
        assert "one new song at a time" in str(refused[0])
        assert not isinstance(outcomes[3], BaseException), outcomes[3]  # the other member
        server.stall_s = 0
        # Whichever of the three got the slot was answered; a refused one is heard now.
        hogs = [IDS[f"hog{i}"] for i in (1, 2, 3)]
        turned_away = next(
            video for video, o in zip(hogs, outcomes[:3], strict=True) if isinstance(o, BusyError)
        )
        again = await engine.recommend(turned_away, 2, member=7)
        assert again.query.source == "download"


async def test_a_new_model_version_never_serves_a_stale_vector(
    catalog: Path, fake_vggish: Path, pca_params: Path, server: RangeServer, tmp_path: Path
) -> None:
    video = IDS["model"]
    first = await Engine.open(_settings(catalog, fake_vggish, pca_params, server))
    try:
        await first.recommend(video, 2)
        assert (await first.listener.listen(video, fetch_new=False))[1] == "cache"
    finally:
        await first.close()
    changed = tmp_path / "pca.npz"
    with np.load(pca_params) as params:
        np.savez(
            changed,
            pca_eigen_vectors=params["pca_eigen_vectors"],
            pca_means=params["pca_means"] + 0.01,
        )
    second = await Engine.open(_settings(catalog, fake_vggish, changed, server))
    try:
        assert await second.listener.model_version() != await first.listener.model_version()
        with pytest.raises(UnknownVideoError):
            await second.listener.listen(video, fetch_new=False)
    finally:
        await second.close()


def test_cli_recommends_for_a_local_file(
    catalog: Path, fake_vggish: Path, pca_params: Path, media: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(catalog, data)
    song = make_song(tmp_path / "mine.ogg", 8.0)
    env = {"VGGISH_MODEL": str(fake_vggish), "VGGISH_PCA_PARAMS": str(pca_params)}
    result = run_json(data, "recommend", "--file", str(song), "--count", "4", **env)
    assert result["query"]["source"] == "file" and len(result["items"]) == 4
    short = make_song(tmp_path / "short.wav", 0.5)
    failed = run_cli(data, "recommend", "--file", str(short), check=False, **env)
    assert failed.returncode == 1 and "needs at least one second" in failed.stderr


async def test_a_download_cut_by_the_byte_limit_says_so(
    catalog: Path, fake_vggish: Path, pca_params: Path, server: RangeServer
) -> None:
    """DOWNLOAD_MAX_BYTES cuts a high-bitrate section to half a second: the member hears
    that the audio was too large for the limit (not that the song is half a second long),
    and the operator which setting did it."""
    async with _opened(
        catalog, fake_vggish, pca_params, server, download_max_bytes=100_000
    ) as engine:
        with pytest.raises(DownloadCapError) as cut:
            await engine.recommend(IDS["large"], 3)
        assert "too large for this server's download limit" in str(cut.value)
        assert "DOWNLOAD_MAX_BYTES=100000" in cut.value.operator_hint
        assert "long" not in str(cut.value)
    async with _opened(catalog, fake_vggish, pca_params, server) as engine:  # the default
        assert (await engine.recommend(IDS["large"], 3)).query.source == "download"
