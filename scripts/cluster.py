"""The whole of earshot past one machine, on one machine: a harness for tests and benchmarks.

``Cluster`` starts, in a temp folder of its own:

- Redis (a ``RedisServer``, unless ``redis_url`` is given) for the listening queue and the
  shared cooldowns, under a ``QUEUE_NAME`` of its own;
- a fresh PostgreSQL database (on a ``PostgresServer`` it starts, or on the server at
  ``postgres_url``), filled from the catalog's SQLite file by the real
  ``python -m recommender migrate-to-postgres`` and shared through ``DATABASE_URL``;
- the catalog's index copied into a shared ``INDEX_DIR`` that every process reads and
  watches (``INDEX_WATCH_SECONDS``);
- the local Discord API (``FakeDiscord``) with ``shards`` shards and as many servers, server
  i on shard i;
- the YouTube stand-in (``RangeServer``) serving ``media``: ``<video id>.<ext>`` files;
- ``bots`` real ``python -m bot`` processes, the shards split evenly among them
  (SHARD_COUNT, SHARD_IDS), each with a DATA_DIR of its own for its few local files;
- ``workers`` real ``python -m recommender worker`` processes taking listening jobs.

Use it as a context manager; everything it started is stopped (and the database it made
dropped) on the way out, also when start-up fails half-way::

    with Cluster(tmp, catalog, model, pca, media) as cluster:
        guild = cluster.guilds_of(0)[0]
        record = cluster.discord.interaction(member, "recommend", guild_id=guild, song=...)
        cluster.kill_bot(0); cluster.start_bot(0)
        cluster.kill_worker(1); cluster.start_worker(1)

Logs: ``root/logs/bot<i>.log`` (appended across restarts) and, once stopped,
``root/logs/worker<i>.log``; ``bot_log(i)`` and ``worker_log(i)`` read them meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any

from recommender.index.vector_index import CURRENT
from scripts.local_servers import PostgresServer, RedisServer
from scripts.standins.bot_process import BotProcess
from scripts.standins.cli import run_cli
from scripts.standins.discord_api import FakeDiscord
from scripts.standins.http_range import RangeServer
from scripts.worker_process import ListeningWorker

DATABASE_FILE = "earshot.sqlite3"


def split_shards(shards: int, bots: int) -> list[list[int]]:
    """The shards of each of ``bots`` processes: contiguous, as even as can be
    (4 shards, 2 bots: [[0, 1], [2, 3]])."""
    if not 1 <= bots <= shards:
        raise ValueError(f"{bots} bot processes cannot share {shards} shards")
    return [list(range(b * shards // bots, (b + 1) * shards // bots)) for b in range(bots)]


def _sql(url: str, statement: str, *args: Any) -> list[tuple]:
    import asyncpg

    async def run() -> list[tuple]:
        conn = await asyncpg.connect(url)
        try:
            return [tuple(row) for row in await conn.fetch(statement, *args)]
        finally:
            await conn.close()

    return asyncio.run(run())


def _execute(url: str, statement: str) -> None:
    """One statement outside any transaction, as CREATE/DROP DATABASE need."""
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


class Cluster:
    """Redis, PostgreSQL, a shared INDEX_DIR, the Discord and YouTube stand-ins, B bot
    processes sharing S shards and W listening workers (see the module's docstring).

    Attributes, once started: ``discord`` (the FakeDiscord: drive members with
    ``interaction(member, name, guild_id=..., **options)``, ``react``, read ``messages``),
    ``youtube`` (the RangeServer: ``requests``, ``stall_s``), ``bots`` (BotProcess per
    process), ``workers`` (ListeningWorker per slot), ``shard_split`` (each bot's shard
    ids), ``redis_url``, ``queue_name``, ``database_url`` (the cluster's own database),
    ``index_dir`` (the shared INDEX_DIR), ``timings`` (seconds per start-up step).
    """

    def __init__(
        self,
        root: Path,
        catalog: Path,
        vggish_model: Path,
        pca_params: Path,
        media: Path,
        *,
        bots: int = 2,
        workers: int = 2,
        shards: int = 4,
        redis_url: str | None = None,
        postgres_url: str | None = None,
        request_timeout_s: float = 8.0,
        bot_request_timeout_s: float | None = None,
        worker_jobs: int = 1,
        index_watch_s: float = 0.5,
        section_seconds: int = 4,
        section_count: int = 1,
        owner_id: int = 1000,
        bot_env: dict[str, str] | None = None,
        worker_env: dict[str, str] | None = None,
    ) -> None:
        """
        root: an empty (or new) folder for everything the cluster writes.
        catalog: a built DATA_DIR (earshot.sqlite3 and index/); only read.
        vggish_model, pca_params: VGGISH_MODEL and VGGISH_PCA_PARAMS for every process.
        media: files served as YouTube videos (``<video id>.<ext>``).
        bots, workers, shards: how many bot processes, listening workers and shards (the
            shards split evenly among the bots; one server per shard).
        redis_url: an existing Redis (shared safely: the queue name is the cluster's own);
            None starts one.
        postgres_url: an existing PostgreSQL server's address whose user may CREATE
            DATABASE; the cluster makes a database of its own there and drops it when
            done. None starts a server.
        request_timeout_s: REQUEST_TIMEOUT_SECONDS of the workers (a job's time limit; a
            SIGKILLed worker's job runs again this + 10 s after it started) and, unless
            ``bot_request_timeout_s`` is given, of the bots (they wait 2x this + 15 s for
            a job, queueing included).
        worker_jobs: MAX_CONCURRENT_REQUESTS of each worker (each slot is a listening
            process with the model loaded before the worker takes jobs). 1 by default:
            on this 2-core machine, 2 workers of 1 slot each.
        index_watch_s: INDEX_WATCH_SECONDS: how soon every process sees a new build.
        section_seconds, section_count: how much of each new song is listened to.
        owner_id: the application's owner (may /reindex and /stats).
        bot_env, worker_env: more environment for every bot or worker (wins over the rest).
        """
        self.root = Path(root)
        self.catalog = Path(catalog)
        self.vggish_model = Path(vggish_model)
        self.pca_params = Path(pca_params)
        self.media = Path(media)
        self.bot_count = bots
        self.worker_count = workers
        self.shards = shards
        self.shard_split = split_shards(shards, bots)
        self.request_timeout_s = request_timeout_s
        self.bot_request_timeout_s = bot_request_timeout_s or request_timeout_s
        self.worker_jobs = worker_jobs
        self.index_watch_s = index_watch_s
        self.section_seconds = section_seconds
        self.section_count = section_count
        self.owner_id = owner_id
        self.extra_bot_env = dict(bot_env or {})
        self.extra_worker_env = dict(worker_env or {})
        self.queue_name = f"earshot:cluster:{uuid.uuid4().hex[:8]}"
        self.index_dir = self.root / "index"
        self.logs = self.root / "logs"

        self._given_redis = redis_url
        self._given_postgres = postgres_url
        self.redis_url = redis_url or ""
        self.database_url = ""  # the cluster's own database, once started
        self._redis: RedisServer | None = None
        self._postgres: PostgresServer | None = None
        self._server_url: str | None = None  # where the cluster's database was created
        self._database_name = f"earshot_cluster_{uuid.uuid4().hex[:10]}"

        self.discord = FakeDiscord(owner_id=owner_id, guilds=shards, shards=shards)
        self.youtube = RangeServer(self.media)
        self.bots: list[BotProcess] = []
        self.workers: list[ListeningWorker] = []
        self.retired_workers: list[ListeningWorker] = []  # killed or stopped, then replaced
        self._exits = contextlib.ExitStack()
        self.timings: dict[str, float] = {}  # start-up steps, seconds

    # --- start and stop --------------------------------------------------------------

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> Cluster:
        """Start everything; returns when every bot has identified all its shards and
        every worker is ready. On failure, what started is stopped and the error raised."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _timed(self, name: str, step: Callable[[], Any]) -> Any:
        started = time.monotonic()
        try:
            return step()
        finally:
            self.timings[name] = time.monotonic() - started

    def _start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        with ThreadPoolExecutor(4) as pool:
            servers = [
                pool.submit(self._timed, "redis", self._start_redis),
                pool.submit(self._timed, "postgres", self._start_postgres),
                pool.submit(self._timed, "index", self._copy_index),
            ]
            for future in servers:
                future.result()
        self._timed("migrate", self._migrate)
        self._exits.enter_context(self.discord)
        self._exits.enter_context(self.youtube)
        self.bots = [self._bot(b) for b in range(self.bot_count)]
        self.workers = [self._worker(w) for w in range(self.worker_count)]
        # Bots and workers start side by side: TensorFlow's start-up dominates either way.
        started = time.monotonic()
        with ThreadPoolExecutor(self.bot_count + self.worker_count) as pool:
            futures = [pool.submit(bot.start) for bot in self.bots]
            futures += [pool.submit(worker.start) for worker in self.workers]
            for future in futures:
                future.result()
        self.timings["processes"] = time.monotonic() - started

    def _start_redis(self) -> None:
        if self._given_redis is None:
            self._redis = RedisServer().start()
            self.redis_url = self._redis.url

    def _start_postgres(self) -> None:
        if self._given_postgres is None:
            self._postgres = PostgresServer().start()
            self._server_url = self._postgres.url
        else:
            self._server_url = self._given_postgres
        _execute(self._server_url, f'CREATE DATABASE "{self._database_name}"')
        self.database_url = self._server_url.rsplit("/", 1)[0] + "/" + self._database_name

    def _copy_index(self) -> None:
        shutil.copytree(self.catalog / "index", self.index_dir)
        source = self.root / "source"
        source.mkdir()
        for suffix in ("", "-wal", "-shm"):  # a WAL not yet checkpointed is data too
            if (self.catalog / (DATABASE_FILE + suffix)).exists():
                shutil.copyfile(
                    self.catalog / (DATABASE_FILE + suffix), source / (DATABASE_FILE + suffix)
                )

    def _migrate(self) -> None:
        """The real CLI copies the catalog's SQLite database into PostgreSQL."""
        source = self.root / "source"
        done = run_cli(source, "migrate-to-postgres", "--to", self.database_url)
        (self.logs / "migrate.log").write_text(done.stdout + done.stderr)

    def stop(self) -> None:
        """Stop the bots (SIGTERM), the workers (SIGTERM), the stand-ins and the servers,
        and drop the cluster's database; safe to call twice, and after a failed start."""
        with ThreadPoolExecutor(max(len(self.bots) + len(self.workers), 1)) as pool:
            for bot in self.bots:
                pool.submit(bot.stop)
            for worker in self.workers:
                pool.submit(worker.stop)
        for n in range(len(self.workers)):
            (self.logs / f"worker{n}.log").write_text(self.worker_log(n))
        self._exits.close()
        if self._server_url and self.database_url:
            with contextlib.suppress(Exception):
                _execute(
                    self._server_url,
                    f'DROP DATABASE IF EXISTS "{self._database_name}" WITH (FORCE)',
                )
            self.database_url = ""
        if self._postgres is not None:
            self._postgres.stop()
            self._postgres = None
        if self._redis is not None:
            self._redis.stop()
            self._redis = None

    # --- the processes ---------------------------------------------------------------

    def common_env(self) -> dict[str, str]:
        """What every bot and worker is given: the shared services and the test media."""
        return {
            "DATABASE_URL": self.database_url,
            "QUEUE_URL": self.redis_url,
            "QUEUE_NAME": self.queue_name,
            "INDEX_DIR": str(self.index_dir),
            "INDEX_WATCH_SECONDS": str(self.index_watch_s),
            "VGGISH_MODEL": str(self.vggish_model),
            "VGGISH_PCA_PARAMS": str(self.pca_params),
            "EARSHOT_TEST_ALLOW_LOOPBACK": "1",
            "EARSHOT_TEST_MEDIA_BASE": self.youtube.url(""),
            "SECTION_SECONDS": str(self.section_seconds),
            "SECTION_COUNT": str(self.section_count),
        }

    def _bot(self, n: int) -> BotProcess:
        data = self.root / f"bot{n}" / "data"
        data.mkdir(parents=True, exist_ok=True)
        return BotProcess(
            self.discord,
            data,
            self.logs / f"bot{n}.log",
            **self.common_env(),
            REQUEST_TIMEOUT_SECONDS=str(self.bot_request_timeout_s),
            RECOMMEND_COOLDOWN_SECONDS="0",
            SYNC_COMMANDS="global",  # every server has the commands
            SHARD_COUNT=str(self.shards),
            SHARD_IDS=",".join(str(s) for s in self.shard_split[n]),
            **self.extra_bot_env,
        )

    def _worker(self, n: int) -> ListeningWorker:
        data = self.root / f"worker{n}" / "data"
        data.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATA_DIR", "INDEX_"))}
        env.update(
            {
                **self.common_env(),
                "DATA_DIR": str(data),
                "REQUEST_TIMEOUT_SECONDS": str(self.request_timeout_s),
                "MAX_CONCURRENT_REQUESTS": str(self.worker_jobs),
                **self.extra_worker_env,
            }
        )
        return ListeningWorker(env, f"worker{n}")

    def start_bot(self, n: int, timeout_s: float = 90) -> float:
        """(Re)start bot process n (after ``kill_bot`` or ``stop_bot``); returns seconds
        until all its shards identified again."""
        if self.bots[n].alive:
            raise RuntimeError(f"bot {n} is running")
        return self.bots[n].start(timeout_s)

    def kill_bot(self, n: int) -> None:
        """SIGKILL bot process n (its shards' sockets drop; nothing is said to Discord)."""
        self.bots[n].kill()

    def stop_bot(self, n: int) -> int:
        """SIGTERM bot process n; its exit code."""
        return self.bots[n].stop()

    def start_worker(self, n: int, timeout_s: float = 120) -> ListeningWorker:
        """Start a fresh worker n in place of a killed or stopped one (kept in
        ``retired_workers``: its log and ``jobs_done`` still count)."""
        old = self.workers[n]
        if old.alive:
            raise RuntimeError(f"worker {n} is running")
        if old.process is not None:
            self.retired_workers.append(old)
        self.workers[n] = self._worker(n)
        return self.workers[n].start(timeout_s)

    def kill_worker(self, n: int) -> None:
        """SIGKILL worker n and its listening processes: its running jobs stay on the
        queue until their in-progress marks expire (request_timeout_s + 10 s)."""
        self.workers[n].kill()

    def stop_worker(self, n: int) -> int | None:
        """SIGTERM worker n: its running jobs go back on the queue at once."""
        return self.workers[n].stop()

    # --- who serves what -------------------------------------------------------------

    @property
    def guild_ids(self) -> list[int]:
        """The servers, server i on shard i."""
        return list(self.discord.guild_ids)

    def shard_of(self, guild_id: int) -> int:
        return self.discord.shard_of_guild(guild_id, self.shards)

    def bot_of(self, guild_id: int) -> int:
        """The bot process that runs the server's shard."""
        shard = self.shard_of(guild_id)
        return next(n for n, ids in enumerate(self.shard_split) if shard in ids)

    def guilds_of(self, n: int) -> list[int]:
        """The servers whose shards bot process n runs."""
        return [g for g in self.guild_ids if self.bot_of(g) == n]

    # --- what happened ---------------------------------------------------------------

    def bot_log(self, n: int) -> str:
        return self.bots[n].log_text()

    def worker_log(self, n: int) -> str:
        """Worker n's log, its predecessors' (killed or stopped) first."""
        name = f"worker{n}"
        earlier = [w.log for w in self.retired_workers if w.name == name]
        return "\n".join([*earlier, self.workers[n].log])

    def jobs_done(self) -> list[int]:
        """Listening jobs finished per worker slot, predecessors included."""
        return [
            sum(w.jobs_done() for w in self.retired_workers if w.name == worker.name)
            + worker.jobs_done()
            for worker in self.workers
        ]

    def downloads(self, video_id: str) -> int:
        """How many times a worker began fetching the video (yt-dlp's first request for
        it, without a Range header)."""
        return sum(
            1
            for path, header in list(self.youtube.requests)
            if path == f"/{video_id}" and header is None
        )

    def sql(self, statement: str, *args: Any) -> list[tuple]:
        """Rows of a statement on the cluster's PostgreSQL database ($1, $2... args)."""
        return _sql(self.database_url, statement, *args)

    def current_index(self) -> str | None:
        """The name of the build CURRENT points at in the shared INDEX_DIR."""
        pointer = self.index_dir / CURRENT
        return pointer.read_text().strip() if pointer.exists() else None
