"""Shared fixtures: the real AudioSet sample in ../shared, and small slices of it."""

from __future__ import annotations

import os

# One BLAS thread per process, set before numpy loads (scripts/test.sh says why).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import contextlib
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from recommender.audioset.ontology import CLASS_LABELS_FILE, ONTOLOGY_FILE
from recommender.config import Settings
from recommender.engine import Engine
from scripts.local_servers import PostgresServer, RedisServer, ServerUnavailable
from scripts.standins import TEST_TAGGER_STEPS
from scripts.standins.http_range import RangeServer
from scripts.standins.music_apis import MusicApis
from scripts.standins.oembed import OEmbedServer
from scripts.standins.small_disk import MountRefused, SmallDisk
from scripts.standins.youtube_search import Result, YouTubeSearch

ROOT = Path(__file__).resolve().parents[1]
AUDIOSET = Path(
    os.environ.get("EARSHOT_AUDIOSET_SAMPLE", ROOT.parent / "shared" / "data" / "audioset")
)
BAL_TRAIN = AUDIOSET / "audioset_v1_embeddings" / "bal_train"


def require_audioset() -> Path:
    """The shared sample, or a skip with the reason; under CI=true its absence fails."""
    if not BAL_TRAIN.is_dir():
        skip_or_fail(
            f"the shared AudioSet sample is not at {AUDIOSET} (set EARSHOT_AUDIOSET_SAMPLE)"
        )
    return AUDIOSET


def skip_or_fail(reason: str) -> NoReturn:
    """Skip with the reason locally; under CI=true fail, so a green CI ran every test."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true: {reason}; CI must run every test", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real redis-server on 127.0.0.1 for the session (flush it between tests)."""
    try:
        server = RedisServer().start()
    except ServerUnavailable as exc:
        skip_or_fail(f"Redis cannot be started here: {exc}")
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL on 127.0.0.1 for the session."""
    try:
        server = PostgresServer().start()
    except ServerUnavailable as exc:
        skip_or_fail(f"PostgreSQL cannot be started here: {exc}")
    try:
        yield server
    finally:
        server.stop()


def _on_server(server_url: str, statement: str) -> None:
    """One statement outside any transaction, as CREATE/DROP DATABASE need."""
    import asyncio

    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(server_url)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (its postgresql:// URL), so tests
    never see each other's rows; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    _on_server(postgres_server.url, f'CREATE DATABASE "{name}"')
    try:
        yield postgres_server.url.rsplit("/", 1)[0] + "/" + name
    finally:
        _on_server(postgres_server.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[int], SmallDisk]]:
    """Mounts real tmpfs filesystems of a given size (bytes) for one test."""
    mounted: list[SmallDisk] = []

    def mount(size_bytes: int) -> SmallDisk:
        disk = SmallDisk(tmp_path / f"disk{len(mounted)}", size_bytes)
        try:
            disk.mount()
        except (MountRefused, OSError) as exc:
            skip_or_fail(f"a tmpfs cannot be mounted here to fill up: {exc}")
        mounted.append(disk)
        return disk

    try:
        yield mount
    finally:
        for disk in mounted:
            disk.unmount()


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """``values`` in os.environ (seen by every process a test starts), then as they were."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session", autouse=True)
def oembed() -> Iterator[OEmbedServer]:
    """YouTube's oEmbed, stood in for on 127.0.0.1 for every test (and every bot or CLI
    process a test starts), so that no test ever reaches for the real one."""
    with (
        OEmbedServer() as server,
        environment({"EARSHOT_TEST_ALLOW_LOOPBACK": "1", "EARSHOT_TEST_OEMBED_BASE": server.base}),
    ):
        yield server


@pytest.fixture(scope="session", autouse=True)
def music_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MusicApis]:
    """Spotify's embed page, Deezer's API and the iTunes lookup, stood in for on 127.0.0.1
    for every test and every process a test starts (the doctor asks them about the songs
    in doctor.KNOWN_SONGS), so that no test reaches the real ones."""
    root = tmp_path_factory.mktemp("music-services")
    (root / "preview.mp3").write_bytes(b"ID3" + b"\0" * 64)  # never listened to
    with MusicApis(root) as server:
        server.add_spotify("0DiWol3AO6WpXZgp0goxAV", "One More Time", ["Daft Punk"], 320,
                           "preview.mp3")  # fmt: skip
        server.add_deezer("3135556", "One More Time", "Daft Punk", 320, "preview.mp3")
        server.add_apple("697195462", "One More Time", "Daft Punk", 320, "preview.mp3")
        with environment({"EARSHOT_TEST_MUSIC_BASE": server.base}):
            yield server


@pytest.fixture(scope="session", autouse=True)
def youtube_search() -> Iterator[YouTubeSearch]:
    """YouTube's and YouTube Music's search, stood in for behind a loopback HTTPS proxy
    for every test and every process a test starts: no search reaches YouTube."""
    with YouTubeSearch() as server:
        server.add(  # the song the doctor looks for
            "daft punk one more time",
            songs=[Result("FGBhQbmPwH8", "One More Time", "Daft Punk", 320, "Discovery")],
        )
        wanted = {
            "EARSHOT_TEST_YOUTUBE_PROXY": server.url,
            "EARSHOT_TEST_YOUTUBE_CA": str(server.ca_file),
        }
        with environment(wanted):
            yield server


@contextlib.asynccontextmanager
async def listening_engine(
    catalog: Path, tmp_path: Path, model: Path, pca: Path, media: Path
) -> AsyncIterator[Engine]:
    """An engine on a copy of ``catalog`` that listens, with the stand-in VGGish, to songs
    served by a media stand-in over ``media`` (a song's key: the file's name)."""
    data = tmp_path / "data"
    shutil.copytree(catalog, data)
    with RangeServer(media) as server:
        settings = engine_settings(
            data_dir=data,
            vggish_model=str(model),
            pca_params=pca,
            test_media_base=server.url(""),
            section_seconds=5,
            request_timeout_s=60.0,
        )
        engine = await Engine.open(settings)
        try:
            yield engine
        finally:
            await engine.close()


def engine_settings(**changes: object) -> Settings:
    """Settings for an engine opened inside a test: its oEmbed is the stand-in, and a
    reindex trains one short tagger (the shipped one is measured in test_evaluate)."""
    base = dict(
        tagger_steps=TEST_TAGGER_STEPS,
        tagger_members=1,
        allow_test_hosts=True,
        test_oembed_base=os.environ.get("EARSHOT_TEST_OEMBED_BASE"),
        test_music_base=os.environ.get("EARSHOT_TEST_MUSIC_BASE"),
        test_youtube_proxy=os.environ.get("EARSHOT_TEST_YOUTUBE_PROXY"),
        test_youtube_ca=os.environ.get("EARSHOT_TEST_YOUTUBE_CA"),
    )
    return Settings(**{**base, **changes})  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def audioset() -> Path:
    return require_audioset()


def make_slice(dest: Path, files: int, step: int = 1) -> Path:
    """An AudioSet-shaped folder with some of the sample's files (in a temp dir only)."""
    source = require_audioset()
    split = dest / "audioset_v1_embeddings" / "bal_train"
    split.mkdir(parents=True)
    for path in sorted(BAL_TRAIN.glob("*.tfrecord"))[: files * step : step]:
        shutil.copyfile(path, split / path.name)
    for name in (CLASS_LABELS_FILE, ONTOLOGY_FILE):
        shutil.copyfile(source / name, dest / name)
    return dest


@contextlib.contextmanager
def built_once(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[tuple[Path, bool]]:
    """A folder for the whole run, shared by the test command's processes: (folder, True)
    to the first process that asks, which builds it under a lock; (folder, False) to the
    rest, after it is built. Never changed after (copy it to change it)."""
    import fcntl

    run = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        run = run.parent  # the run's folder, above each process's own
    folder = run / f"shared-{name}"
    with open(run / f"shared-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the others wait while the first builds
        try:
            done = run / f"shared-{name}.built"
            if done.exists():
                yield folder, False
                return
            shutil.rmtree(folder, ignore_errors=True)  # a build cut short
            folder.mkdir()
            yield folder, True
            done.touch()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def audioset_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 2,000 clips (some 800 music clips): 400 files spread over the sample."""
    with built_once(tmp_path_factory, "audioset-slice") as (folder, build):
        if build:
            make_slice(folder, files=400, step=10)
    return folder


@pytest.fixture(scope="session")
def fake_vggish(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from scripts.standins.vggish_interface import build_fake_vggish

    return build_fake_vggish(tmp_path_factory.mktemp("models") / "vggish")


@pytest.fixture(scope="session")
def pca_params() -> Path:
    return require_audioset() / "vggish_pca_params.npz"


@pytest.fixture(scope="session")
def built_catalog(audioset_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with the slice ingested and indexed. Copy it before changing it."""
    from scripts.standins.cli import run_cli

    with built_once(tmp_path_factory, "catalog") as (data, build):
        if build:
            run_cli(data, "ingest", "--audioset", str(audioset_slice))
            run_cli(data, "reindex")
    return data


# The modules that take longest, started first: the test command hands each process a
# module at a time, and a long module started last would run alone at the end.
LONGEST_FIRST = (
    "test_queue.py",
    "test_listen.py",
    "test_bot.py",
    "test_evaluate.py",
    "test_cluster.py",
    "test_doctor.py",
    "test_start.py",
    "test_reply.py",
    "test_postgres.py",
    "test_titles.py",
    "test_faults.py",
    "test_upload_memory.py",
    "test_cli.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: n for n, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: in-file order kept


@pytest.fixture()
def catalog_copy(built_catalog: Path, tmp_path: Path) -> Path:
    """A copy of the indexed catalog for one test to change (DATA_DIR)."""
    copy = tmp_path / "data"
    shutil.copytree(built_catalog, copy)
    return copy


def add_env(model: Path, pca: Path, **extra: str) -> dict[str, str]:
    """What an `add` command runs with in a test: the stand-in VGGish, and no pace (the
    stand-ins need none)."""
    return {
        "VGGISH_MODEL": str(model),
        "VGGISH_PCA_PARAMS": str(pca),
        "ADD_YOUTUBE_PACE_SECONDS": "0",
        **extra,
    }
