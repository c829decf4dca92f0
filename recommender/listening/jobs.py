"""Listening on a Redis job queue (arq), for earshot past one machine (``QUEUE_URL``).

Bot processes enqueue "listen to this video"; ``python -m recommender worker`` processes on
any host take the jobs (see ``listen_worker``). A job's id is the video and the model
version, so however many processes ask for one video, one job runs; the others wait on
the same result. arq removes a job from the queue only when it has finished: a worker
killed mid-job leaves it there, and another worker takes it once the dead one's
in-progress mark expires (the job's time limit plus 10 s). A job is tried twice: a worker
that dies on the second try too fails it, and the member is told (the song itself may be
what kills them).
"""

from __future__ import annotations

import hashlib
import logging
import time

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.jobs import Job, ResultNotFound, SerializationError
from redis.exceptions import RedisError

from ..addresses import redact
from ..config import Settings
from ..errors import EarshotError
from . import job_codec
from .job_codec import LISTEN_FUNCTION
from .workers import Listened, ListenTimeoutError

log = logging.getLogger(__name__)

RESULT_POLL_S = 0.05  # how often a waiting bot process asks Redis for the result
KEEP_RESULT_S = 120  # long enough for every waiter to read it; the cache has it after
JOB_TRIES = 2  # a job whose worker died is run once more, then the member is told
MARK_EXTRA_S = 10.0  # arq's in-progress mark outlives a job's time limit by this much


class QueueUnavailableError(EarshotError):
    """Redis cannot be reached."""

    def __init__(self, url: str, error: BaseException) -> None:
        super().__init__(
            "earshot's listening queue is unreachable right now; try again in a minute."
        )
        self.operator_hint = f"QUEUE_URL {redact(url)}: {type(error).__name__}: {error}"


def job_id(video_id: str, model_version: str) -> str:
    """One id per (video, model version): the same ask from anywhere is the same job."""
    version = hashlib.sha256(model_version.encode()).hexdigest()[:12]
    return f"listen:{version}:{video_id}"


def job_time_limit_s(settings: Settings) -> float:
    return settings.request_timeout_s


def wait_limit_s(settings: Settings) -> float:
    """How long a bot waits for a job: each try's dead worker's mark expiring, then the
    worker that finds the job out of tries failing it (the member is told why)."""
    return JOB_TRIES * (job_time_limit_s(settings) + MARK_EXTRA_S) + 5.0


def redis_settings(url: str) -> RedisSettings:
    settings = RedisSettings.from_dsn(url)
    settings.conn_timeout = 5
    settings.conn_retries = 3
    return settings


class ListenQueue:
    """The bot's side of the queue: enqueue once, wait for the result."""

    def __init__(self, settings: Settings, redis: ArqRedis) -> None:
        self.settings = settings
        self.redis = redis

    @classmethod
    async def connect(cls, settings: Settings) -> ListenQueue:
        assert settings.queue_url is not None
        try:
            redis = await create_pool(
                redis_settings(settings.queue_url),
                default_queue_name=settings.queue_name,
                job_serializer=job_codec.encode,
                job_deserializer=job_codec.decode,
            )
        except Exception as exc:  # redis-py raises several kinds for "not reachable"
            raise QueueUnavailableError(settings.queue_url, exc) from exc
        return cls(settings, redis)

    async def listen(self, video_id: str, start_s: float | None, model_version: str) -> Listened:
        """The frames of a video, listened to by some worker (one job per video)."""
        ident = job_id(video_id, model_version)
        deadline = time.monotonic() + wait_limit_s(self.settings)
        while True:
            try:
                job = await self.redis.enqueue_job(
                    LISTEN_FUNCTION,
                    video_id,
                    start_s,
                    model_version,
                    _job_id=ident,
                    _queue_name=self.settings.queue_name,
                )
                if job is None:  # already queued, running or just finished: share it
                    job = Job(
                        ident,
                        self.redis,
                        _queue_name=self.settings.queue_name,
                        _deserializer=job_codec.decode,
                    )
                    log.debug("sharing listening job %s", ident)
                remaining = deadline - time.monotonic()
                result = await job.result(timeout=max(remaining, 0.1), poll_delay=RESULT_POLL_S)
            except ResultNotFound:
                # The shared job finished and its result expired between two looks: the
                # embedding cache has it now, or a new job is enqueued on the next turn.
                if time.monotonic() > deadline:
                    raise self._busy() from None
                continue
            except TimeoutError:
                raise self._busy() from None
            except SerializationError as exc:  # refused and logged by job_codec
                raise EarshotError(
                    "earshot's listeners answered in a form it does not accept; an operator "
                    "has been told."
                ) from exc
            except (OSError, ConnectionError, RedisError) as exc:
                # Redis went away mid-wait (redis-py's errors are not OSErrors): the member
                # is told now. The job, if Redis kept it, still runs once it is back, and
                # its song is then in the shared cache.
                raise QueueUnavailableError(self.settings.queue_url or "", exc) from exc
            if not isinstance(result, Listened):
                raise EarshotError(f"a listening worker answered {type(result).__name__}")
            return result

    async def depth(self) -> int:
        """Jobs waiting or running (for figures and the doctor)."""
        return await self.redis.zcard(self.settings.queue_name)

    def _busy(self) -> ListenTimeoutError:
        return ListenTimeoutError(
            "earshot's listeners did not get to this song in time; try again in a minute."
        )

    async def close(self) -> None:
        await self.redis.aclose()
