"""Listening on the Redis job queue: real redis-server, real `recommender worker` processes,
engines in queue mode standing for bot processes, media served over HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import dataclasses
import pickle
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from arq.constants import job_key_prefix
from redis.asyncio import Redis

from recommender.addresses import exposure, redact
from recommender.config import Settings
from recommender.engine import Engine
from recommender.errors import BusyError
from recommender.listening.jobs import QueueUnavailableError
from recommender.listening.member_slots import MemberSlots, OneSongAtATimeError
from recommender.listening.workers import ListenersDiedError
from recommender.sources.uploads import Upload
from recommender.sources.youtube import VideoUnavailableError
from scripts.local_servers import free_port
from scripts.standins.http_range import RangeServer
from scripts.standins.media import make_song
from scripts.worker_process import ListeningWorker, worker_env
from tests.conftest import engine_settings

VIDEOS = [f"queue{n:_<6}" for n in range(11)]  # one test each: results outlive a test


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("queue-media")
    for i, video in enumerate(VIDEOS):
        make_song(root / f"{video}.mp3", 12.0, tone=130.0 * (1 + i % 4))
    return root


@pytest.fixture()
def server(media: Path) -> Iterator[RangeServer]:
    with RangeServer(media) as running:
        yield running


@pytest.fixture()
def data(built_catalog: Path, tmp_path: Path) -> Path:
    """A catalog of its own per test: its embedding cache starts empty."""
    copy = tmp_path / "data"
    shutil.copytree(built_catalog, copy)
    return copy


@pytest.fixture()
def queue_name() -> str:
    return f"earshot:test:{uuid.uuid4().hex[:8]}"


def _settings(data: Path, model: Path, pca: Path, server: RangeServer, **changes: object):
    return engine_settings(
        data_dir=data,
        vggish_model=str(model),
        pca_params=pca,
        test_media_base=server.url(""),
        section_seconds=4,
        section_count=2,
        **changes,
    )


@pytest.fixture()
def settings(
    data: Path,
    fake_vggish: Path,
    pca_params: Path,
    server: RangeServer,
    redis_url: str,
    queue_name: str,
):
    """Settings of a bot process that sends new songs to the queue."""
    return _settings(
        data, fake_vggish, pca_params, server, queue_url=redis_url, queue_name=queue_name
    )


def _worker_env(settings, **extra: str) -> dict[str, str]:
    return worker_env(settings, **extra)


async def _asked_mid_job(
    engine: Engine, server: RangeServer, video: str, stall_s: float
) -> asyncio.Future:
    """Ask for a new song and return once a worker is fetching it (the server holds each
    answer ``stall_s`` meanwhile); the request's future is still pending."""
    server.stall_s = stall_s
    asked = asyncio.ensure_future(engine.recommend(video, 3))
    while not _probes(server, video):
        await asyncio.sleep(0.05)
        assert not asked.done(), asked
    return asked


def _took(worker: ListeningWorker, video: str) -> bool:
    return any(f":{video}:listen(" in line for line in worker.lines)


def _probes(server: RangeServer, video: str) -> int:
    return sum(1 for path, header in server.requests if path == f"/{video}" and header is None)


async def test_two_bot_processes_share_one_job_and_the_cache_answers_after(
    settings: Settings, server: RangeServer
) -> None:
    video = VIDEOS[0]
    with ListeningWorker(_worker_env(settings)) as worker:
        first, second = await Engine.open(settings), await Engine.open(settings)
        try:
            server.stall_s = 0.5  # both asks arrive while the one job runs
            a, b = await asyncio.gather(first.recommend(video, 4), second.recommend(video, 4))
            assert a.query.source == b.query.source == "download"
            assert a.query.title and [i.track_id for i in a.items] == [i.track_id for i in b.items]
            assert _probes(server, video) == 1  # one job, one download, for both processes
            assert worker.jobs_done() == 1
            again = await first.recommend(video, 4)  # the worker wrote the shared cache
            assert again.query.source == "cache" and worker.jobs_done() == 1
            assert first.listener.pool is None  # the bot process never loaded the model
        finally:
            await first.close()
            await second.close()


async def test_one_member_has_one_new_song_in_flight_across_bot_processes(
    settings: Settings, server: RangeServer
) -> None:
    """A member who reaches two shards (two servers) still has one new song listened to at
    a time; another member's song goes ahead meanwhile, and the slot frees once answered."""
    with ListeningWorker(_worker_env(settings)):
        first, second = await Engine.open(settings), await Engine.open(settings)
        try:
            server.stall_s = 1.0
            asked = asyncio.ensure_future(first.recommend(VIDEOS[8], 3, member=7))
            while not _probes(server, VIDEOS[8]):
                await asyncio.sleep(0.05)
            with pytest.raises(BusyError, match="one new song at a time"):
                await second.recommend(VIDEOS[9], 3, member=7)
            other = await second.recommend(VIDEOS[10], 3, member=8)
            assert other.query.source == "download"
            assert (await asyncio.wait_for(asked, 60)).query.source == "download"
            server.stall_s = 0
            again = await second.recommend(VIDEOS[9], 3, member=7)
            assert again.query.source == "download"
        finally:
            await first.close()
            await second.close()


async def test_an_unreachable_redis_never_refuses_a_member_a_slot() -> None:
    slots = MemberSlots()
    down = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    slots.share(down, "earshot:test")
    try:
        async with slots.claim(7, VIDEOS[1], 30):
            with pytest.raises(BusyError):  # this process still counts
                async with slots.claim(7, VIDEOS[2], 30):
                    pass
            async with slots.claim(7, VIDEOS[1], 30):  # the same song is shared
                pass
            with pytest.raises(BusyError):  # and the first ask still holds the slot
                async with slots.claim(7, VIDEOS[2], 30):
                    pass
        async with slots.claim(7, VIDEOS[2], 30):
            pass
    finally:
        await down.aclose()


async def test_the_worker_start_script_serves_and_stops_cleanly(
    settings: Settings, server: RangeServer
) -> None:
    """The README's worker command, `bash scripts/start_worker.sh`, run for real."""
    env = _worker_env(settings, YTDLP_AUTO_UPDATE="false", YTDLP_JS_RUNTIME="")
    worker = ListeningWorker(env, "script", ["bash", "scripts/start_worker.sh"]).start(600)
    engine = await Engine.open(settings)
    try:
        result = await engine.recommend(VIDEOS[4], 3)
        assert result.query.source == "download" and worker.jobs_done() == 1
    finally:
        await engine.close()
        assert worker.stop() == 0, worker.log


def test_a_worker_loads_the_model_in_each_of_its_listening_processes(
    settings: Settings, server: RangeServer
) -> None:
    with ListeningWorker(_worker_env(settings, MAX_CONCURRENT_REQUESTS="2")) as worker:
        assert "model loaded in 2 process(es)" in worker.log, worker.log


async def test_a_refusal_crosses_the_queue_as_itself(
    settings: Settings, server: RangeServer
) -> None:
    with ListeningWorker(_worker_env(settings)):
        engine = await Engine.open(settings)
        try:
            with pytest.raises(VideoUnavailableError, match="unavailable"):
                await engine.recommend("zzzzzzzzz00", 3)
        finally:
            await engine.close()


async def test_a_job_written_straight_into_redis_is_refused_and_runs_nothing(
    settings: Settings, server: RangeServer, redis_url: str, tmp_path: Path
) -> None:
    """Whoever can write to the queue's Redis cannot run code in a worker: a pickled job
    (arq's default format) is refused with a log line, and the worker goes on serving."""
    marker = tmp_path / "ran"
    payload = pickle.dumps(
        {"t": 1, "f": "listen", "a": (_RunsCode(marker), None, "v"), "k": {}, "et": 1}
    )
    with ListeningWorker(_worker_env(settings)) as worker:
        redis = Redis.from_url(redis_url)
        try:
            await redis.set(job_key_prefix + "planted", payload)
            await redis.zadd(settings.queue_name, {"planted": int(time.time() * 1000)})
            worker.wait_for_log("refused a queue payload that earshot did not write")
        finally:
            await redis.aclose()
        assert not marker.exists()
        engine = await Engine.open(settings)
        try:
            result = await engine.recommend(VIDEOS[6], 3)
            assert result.query.source == "download"
        finally:
            await engine.close()


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.slow
async def test_a_worker_killed_mid_job_loses_nothing(
    settings: Settings, server: RangeServer
) -> None:
    # The dead worker's mark expires 6 + 10 s after it took the job. Both workers are up
    # before the ask, so the rescue waits on the mark alone, not on a worker's start.
    settings = dataclasses.replace(settings, request_timeout_s=6.0)
    video = VIDEOS[1]
    workers = [ListeningWorker(_worker_env(settings), name).start() for name in ("a", "b")]
    engine = await Engine.open(settings)
    try:
        asked = await _asked_mid_job(engine, server, video, 2.0)
        deadline = time.monotonic() + 60  # a hang guard: arq logs a job as it starts it
        while not (doomed := next((w for w in workers if _took(w, video)), None)):
            assert time.monotonic() < deadline, [w.log for w in workers]
            await asyncio.sleep(0.05)
        rescuer = next(w for w in workers if w is not doomed)
        doomed.kill()
        server.stall_s = 0
        result = await asyncio.wait_for(asked, 120)  # a hang guard: the bot's wait is 37 s
        assert result.query.source == "download" and len(result.items) == 3
        assert any("(try 2)" in line for line in rescuer.lines), rescuer.log
    finally:
        for worker in workers:
            worker.kill()
        await engine.close()


@pytest.mark.slow
async def test_a_song_whose_workers_die_twice_is_not_tried_again_and_the_member_is_told(
    settings: Settings, server: RangeServer
) -> None:
    """Retried once on another worker; when that one dies too, the next worker to see the
    job fails it (the song may be what kills them), and the member reads why, in time."""
    settings = dataclasses.replace(settings, request_timeout_s=6.0)
    video = VIDEOS[3]
    workers = [ListeningWorker(_worker_env(settings), name).start() for name in "abc"]
    engine = await Engine.open(settings)
    try:
        asked = await _asked_mid_job(engine, server, video, 60.0)  # every try stalls
        for attempt in (1, 2):  # each try killed once it is fetching the song
            deadline = time.monotonic() + 60  # a hang guard: a mark expires 16 s after a try
            while _probes(server, video) < attempt or not (
                doomed := next((w for w in workers if w.alive and _took(w, video)), None)
            ):
                assert time.monotonic() < deadline, [w.log for w in workers]
                assert not asked.done(), asked
                await asyncio.sleep(0.05)
            doomed.kill()
        with pytest.raises(ListenersDiedError, match="stopped twice while hearing this song"):
            await asyncio.wait_for(asked, 120)  # a hang guard: the bot's wait is 37 s
        survivor = next(w for w in workers if w.alive)
        assert not _took(survivor, video), survivor.log  # never a third try
        # The member's answer comes from Redis, the worker's log through a pipe: it may
        # trail the answer on a busy machine, so it is waited for (a hang guard).
        deadline = time.monotonic() + 30
        while not any("max retries 2 exceeded" in line for line in survivor.lines):
            assert time.monotonic() < deadline, survivor.log
            await asyncio.sleep(0.05)
        assert _probes(server, video) == 2
    finally:
        for worker in workers:
            worker.kill()
        await engine.close()


async def test_a_listening_process_that_dies_mid_job_is_retried(
    settings: Settings, server: RangeServer
) -> None:
    import psutil

    video = VIDEOS[5]
    with ListeningWorker(_worker_env(settings)) as worker:
        engine = await Engine.open(settings)
        try:
            asked = await _asked_mid_job(engine, server, video, 1.5)
            assert worker.process is not None
            children = psutil.Process(worker.process.pid).children(recursive=True)
            listening = [c for c in children if "spawn_main" in " ".join(c.cmdline())]
            assert listening
            for child in listening:
                child.kill()  # the OOM killer, say
            server.stall_s = 0
            result = await asyncio.wait_for(asked, 60)
            assert result.query.source == "download"
            assert "it goes back on the queue" in worker.log
            assert any("(try 2)" in line for line in worker.lines), worker.log
        finally:
            await engine.close()


@pytest.mark.slow
async def test_a_stopped_worker_hands_its_job_back_at_once(
    settings: Settings, server: RangeServer
) -> None:
    # With a 300 s limit a job left behind would wait 310 s for its mark to expire: a job
    # handed back is taken at once, well before half of that.
    settings = dataclasses.replace(settings, request_timeout_s=300.0)
    video = VIDEOS[2]
    leaving = ListeningWorker(_worker_env(settings), "leaving").start()
    engine = await Engine.open(settings)
    try:
        asked = await _asked_mid_job(engine, server, video, 2.0)
        assert leaving.stop() == 0  # SIGTERM: a clean exit that cancels and re-queues
        server.stall_s = 0
        started = time.monotonic()
        with ListeningWorker(_worker_env(settings), "next") as following:
            result = await asyncio.wait_for(asked, 200)
        assert result.query.source == "download"
        assert _took(following, video), following.log
        assert time.monotonic() - started < 155  # not the 310 s of a dead worker's mark
    finally:
        leaving.kill()
        await engine.close()


async def test_an_unreachable_queue_is_a_clear_refusal(
    data: Path, fake_vggish: Path, pca_params: Path, server: RangeServer
) -> None:
    url = f"redis://:s3cret@127.0.0.1:{free_port()}/0"
    engine = await Engine.open(_settings(data, fake_vggish, pca_params, server, queue_url=url))
    try:
        with pytest.raises(QueueUnavailableError, match="unreachable") as caught:
            await engine.recommend(VIDEOS[3], 3)
        assert "s3cret" not in caught.value.operator_hint
        assert "127.0.0.1" in caught.value.operator_hint
    finally:
        await engine.close()


async def test_the_doctor_sees_the_queue_and_its_workers(settings: Settings) -> None:
    from recommender.ops.doctor import FAIL, OK, WARN, check_queue

    alone = await check_queue(settings)
    assert alone.status == WARN and "no worker has reported" in alone.detail
    with ListeningWorker(_worker_env(settings)):
        for _ in range(600):  # its first report follows its start-up line closely (60 s guard)
            seen = await check_queue(settings)
            if seen.status == OK:
                break
            await asyncio.sleep(0.1)
    assert seen.status == OK and seen.facts["redis"] and "workers report" in seen.detail
    gone = dataclasses.replace(settings, queue_url=f"redis://:pw@127.0.0.1:{free_port()}/0")
    down = await check_queue(gone)
    assert down.status == FAIL and "127.0.0.1" in down.detail and "pw" not in down.detail


async def test_the_doctor_loads_the_model_on_a_queue_host_that_hears_uploads(
    settings: Settings,
) -> None:
    from recommender.ops.doctor import OK, check_model

    engine = await Engine.open(settings)
    try:
        model = await check_model(engine)
    finally:
        await engine.close()
    assert model.status == OK and model.facts["loaded_here"], model
    assert model.facts["hears_here"] == "uploads and previews"
    assert model.detail.endswith("queue workers hear links, this host uploads and previews")


def test_addresses_lose_their_passwords_in_logs() -> None:
    assert redact("redis://:pw@host:6379/0") == "redis://:***@host:6379/0"
    assert redact("postgresql://me:pw@db/earshot") == "postgresql://me:***@db/earshot"
    assert redact("redis://host:6379/0") == "redis://host:6379/0"
    assert redact("redis://host:6379/0?password=pw&db=1") == "redis://host:6379/0?password=***&db=1"
    assert redact("postgresql://db/e?sslmode=require&password=pw") == (
        "postgresql://db/e?sslmode=require&password=***"
    )


def test_the_doctor_names_what_leaves_a_remote_queue_open() -> None:
    both = exposure("redis://queue.internal:6379/0")
    assert "no password" in both and "rediss://" in both
    assert exposure("redis://:pw@queue.internal:6379/0") == "no TLS between hosts (rediss://)"
    assert exposure("rediss://earshot:pw@queue.internal:6380/0") == ""
    assert exposure("redis://127.0.0.1:6379/0") == ""  # this host's own protection


def test_the_worker_needs_a_queue(tmp_path: Path) -> None:
    from scripts.standins.cli import run_cli

    done = run_cli(tmp_path, "worker", check=False)
    assert done.returncode == 1 and "needs QUEUE_URL" in done.stderr


async def test_a_members_uploads_through_two_bot_processes_take_one_slot(
    settings: Settings, server: RangeServer
) -> None:
    """Uploads (and previews) are heard by the bot process they reach, but the member's one
    new song at a time holds across every process on the queue's Redis, as for links."""
    settings = dataclasses.replace(settings, test_discord_cdn=server.url(""))
    song = VIDEOS[3]  # an mp3 on the stand-in; its answers are held, so both asks overlap
    first, second = await Engine.open(settings), await Engine.open(settings)
    try:
        server.stall_s = 2.0
        size = (server.root / f"{song}.mp3").stat().st_size

        def upload(name: str) -> Upload:
            return Upload(server.url(song) + f"?{name}", f"{name}.mp3", "audio/mpeg", size)

        outcomes = await asyncio.gather(
            first.recommend_upload(upload("a"), 3, member=77),
            second.recommend_upload(upload("b"), 3, member=77),
            return_exceptions=True,
        )
        refused = [o for o in outcomes if isinstance(o, OneSongAtATimeError)]
        assert len(refused) == 1, outcomes
        answered = [o for o in outcomes if not isinstance(o, BaseException)]
        assert len(answered) == 1 and answered[0].query.source == "upload", outcomes
        server.stall_s = 0
        # The slot is free once the first is answered, in either process.
        again = await second.recommend_upload(upload("c"), 3, member=77)
        assert again.query.source == "upload"
    finally:
        server.stall_s = 0
        await first.close()
        await second.close()


async def test_redis_going_away_mid_job_tells_the_member_at_once(
    data: Path, fake_vggish: Path, pca_params: Path, server: RangeServer, queue_name: str
) -> None:
    """The bot's wait for a job ends with a clear refusal when Redis goes, not a hang to
    the wait limit and not an error id."""
    from scripts.local_servers import RedisServer

    redis = RedisServer().start()
    try:
        settings = _settings(
            data, fake_vggish, pca_params, server, queue_url=redis.url, queue_name=queue_name
        )
        worker = ListeningWorker(_worker_env(settings), "alone").start()
        engine = await Engine.open(settings)
        try:
            asked = await _asked_mid_job(engine, server, VIDEOS[7], 5.0)
            redis.stop()
            with pytest.raises(QueueUnavailableError) as gone:
                await asyncio.wait_for(asked, 60)  # a hang guard: it ends at the next poll
            assert str(gone.value) == (
                "earshot's listening queue is unreachable right now; try again in a minute."
            )
            assert f"QUEUE_URL redis://127.0.0.1:{redis.port}/0" in gone.value.operator_hint
        finally:
            server.stall_s = 0
            worker.kill()
            await engine.close()
    finally:
        redis.stop()
