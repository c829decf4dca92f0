"""A video's title and channel, and whether it still plays, from YouTube's oEmbed endpoint.

One small request per video to a fixed host, with no API key; member input never chooses
where earshot connects (the video id is checked first, and the URL is built here).

What its answers mean, from what YouTube is reported to answer (evidence: Ghost#16374
and oembed-extractor#168 for embedding turned off, noembed#93 and YoutubeExplode#163
for private and removed videos):

- 200 with JSON: the video plays; title and author_name are its title and channel.
- 401 Unauthorized: the video exists but will not embed: its owner turned embedding
  off, or it is private. oEmbed cannot tell which, and a private video is a dead link
  to a member, so earshot treats it as *restricted*: not suggested, checked again later.
- 404 Not Found (and 400 for an id YouTube rejects): removed, or never existed: *gone*.
- 403, 429, 5xx, a timeout or a broken answer: nothing is learned; ask again later.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp

from ..video_facts import Status, VideoFacts
from .links import VIDEO_ID, watch_url

log = logging.getLogger(__name__)

OEMBED_URL = "https://www.youtube.com/oembed"
USER_AGENT = "earshot (a self-hosted Discord bot)"


class RateLimitedError(Exception):
    """YouTube answered 429: slow down."""


class OEmbedClient:
    """Checks videos through one aiohttp session; use ``async with``."""

    def __init__(self, base: str = OEMBED_URL, timeout_s: float = 5.0) -> None:
        self.base = base
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> OEmbedClient:
        self._session = aiohttp.ClientSession(
            timeout=self.timeout, headers={"User-Agent": USER_AGENT}
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def check(self, video_id: str) -> VideoFacts | None:
        """What oEmbed says of one video now; None if it said nothing usable.

        Raises RateLimitedError on 429, so that a sweep can back off."""
        if not VIDEO_ID.fullmatch(video_id):
            raise ValueError(f"not a YouTube video id: {video_id!r}")
        assert self._session is not None, "use OEmbedClient in 'async with'"
        params = {"url": watch_url(video_id), "format": "json"}
        try:
            async with self._session.get(self.base, params=params) as response:
                status = response.status
                body: Any = await response.json(content_type=None) if status == 200 else None
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.debug("oEmbed could not tell about %s: %s", video_id, exc)
            return None
        now = time.time()
        if status == 200 and isinstance(body, dict) and body.get("title") is not None:
            return VideoFacts(
                video_id,
                Status.LIVE,
                str(body.get("title") or ""),
                str(body.get("author_name") or ""),
                now,
            )
        if status == 401:
            return VideoFacts(video_id, Status.RESTRICTED, checked_at=now)
        if status in (400, 404):
            return VideoFacts(video_id, Status.GONE, checked_at=now)
        if status == 429:
            raise RateLimitedError(video_id)
        log.debug("oEmbed answered %s for %s", status, video_id)
        return None

    async def check_many(
        self, video_ids: list[str], budget_s: float, concurrency: int = 8
    ) -> dict[str, VideoFacts]:
        """Check videos concurrently; whatever has not answered within ``budget_s`` is
        left out (it shows without a title, rather than holding the reply)."""
        slots = asyncio.Semaphore(concurrency)

        async def one(video_id: str) -> VideoFacts | None:
            async with slots:
                try:
                    return await self.check(video_id)
                except RateLimitedError:
                    log.warning("YouTube's oEmbed is rate-limiting earshot (HTTP 429)")
                    return None

        tasks = [asyncio.ensure_future(one(v)) for v in video_ids]
        if not tasks:
            return {}
        done, pending = await asyncio.wait(tasks, timeout=budget_s)
        for task in pending:
            task.cancel()
        found = [t.result() for t in done if not t.cancelled() and t.exception() is None]
        return {f.video_id: f for f in found if f is not None}
