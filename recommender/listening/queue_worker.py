"""``python -m recommender worker``: a listening worker for the Redis queue (``jobs``).

Each worker takes up to MAX_CONCURRENT_REQUESTS jobs at a time and runs them in its own
process pool, exactly as a bot process does without a queue: the shared embedding cache
first (another worker may have listened already), else download, decode and VGGish, and
the result goes into the cache and the catalog before the job reports done.

SIGINT or SIGTERM stops it: running jobs are cancelled and go back on the queue at once,
for another worker. A worker killed outright (SIGKILL, power loss) leaves its jobs on the
queue, and another worker takes them once the in-progress mark expires.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import socket
from typing import Any

from arq.worker import Retry, Worker, func

from ..catalog.store import Store
from ..config import Settings
from ..errors import EarshotError
from . import job_codec
from .jobs import (
    JOB_TRIES,
    KEEP_RESULT_S,
    LISTEN_FUNCTION,
    job_time_limit_s,
    redact,
    redis_settings,
)
from .listener import Listener
from .workers import Listened, WorkerCrashedError

log = logging.getLogger(__name__)

QUEUE_POLL_S = 0.05  # how often an idle worker looks at the queue


class ModelMismatchError(EarshotError):
    def __init__(self, worker: str, asked: str) -> None:
        super().__init__(
            "earshot's listeners run a different model from this bot; an operator must "
            "give them the same VGGISH_MODEL and PCA parameters."
        )
        self.operator_hint = f"worker model {worker!r}, bot asked for {asked!r}"


async def listen(
    ctx: dict[str, Any], video_id: str, start_s: float | None, version: str
) -> Listened:
    """One job: the frames of a video, from the shared cache or listened to here."""
    listener: Listener = ctx["listener"]
    mine = await listener.model_version()
    if mine != version:
        raise ModelMismatchError(mine, version)
    try:
        listened, source = await listener.listen(video_id, start_s=start_s)
    except WorkerCrashedError as exc:
        # Its listening process died (killed, or replaced with a sibling that overran):
        # not the song's fault, so the queue runs it again, here or elsewhere.
        log.warning("job %s: %s; it goes back on the queue", ctx.get("job_id"), exc)
        raise Retry(defer=1) from exc
    log.info(
        "job %s (try %d): %s from %s, %d frames",
        ctx.get("job_id"),
        ctx.get("job_try", 1),
        video_id,
        source,
        len(listened.frames),
    )
    return listened


def worker_settings(settings: Settings) -> Settings:
    """The worker listens itself: it never enqueues jobs of its own."""
    return dataclasses.replace(settings, queue_url=None)


def make_worker(
    settings: Settings, *, warm: bool = True, listener_class: type[Listener] = Listener
) -> Worker:
    """An arq worker for the listening queue; ``listener_class`` is how it listens (the
    fleet benchmark's hosts sleep instead)."""
    if settings.queue_url is None:
        raise EarshotError("the worker needs QUEUE_URL (redis://host:6379/0)")
    local = worker_settings(settings)

    async def startup(ctx: dict[str, Any]) -> None:
        store = await Store.open_settings(local)
        listener = listener_class(local, store)
        ctx["store"], ctx["listener"] = store, listener
        if warm:  # load the model in every listening process before the first job
            slots = local.max_concurrent_requests
            versions = await asyncio.gather(*(listener.warm_up() for _ in range(slots)))
            pids = listener.pool.pids() if listener.pool else []
            log.info("model loaded in %d process(es): %s", len(pids), versions[0])
        log.info(
            "listening worker %s:%d ready on %s queue %r, %d job(s) at a time",
            socket.gethostname(),
            os.getpid(),
            redact(settings.queue_url or ""),
            settings.queue_name,
            settings.max_concurrent_requests,
        )

    async def shutdown(ctx: dict[str, Any]) -> None:
        if "listener" in ctx:
            await ctx["listener"].close()
        if "store" in ctx:
            await ctx["store"].close()

    return Worker(
        functions=[
            func(listen, name=LISTEN_FUNCTION, timeout=job_time_limit_s(local), max_tries=JOB_TRIES)
        ],
        redis_settings=redis_settings(settings.queue_url),
        queue_name=settings.queue_name,
        max_jobs=settings.max_concurrent_requests,
        keep_result=KEEP_RESULT_S,
        job_serializer=job_codec.encode,
        job_deserializer=job_codec.decode,
        poll_delay=QUEUE_POLL_S,
        on_startup=startup,
        on_shutdown=shutdown,
        handle_signals=True,
        health_check_interval=30,
    )


async def serve(settings: Settings) -> None:
    """Take jobs until SIGINT or SIGTERM."""
    worker = make_worker(settings)
    try:
        await worker.async_run()
    except asyncio.CancelledError:
        pass  # the signal handler cancelled the main task: a clean stop
    finally:
        await worker.close()
