"""Keeping what earshot knows of each video current: which still play, under which title.

At reply time, only the few suggestions whose facts are missing or older than
VIDEO_FACTS_TTL_DAYS are checked, concurrently and within TITLES_BUDGET_SECONDS. The
``verify`` sweep checks the whole catalog ahead of time, at VERIFY_RATE requests a second;
the facts table is its own progress, so a killed sweep resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from ..config import Settings
from ..errors import EarshotError
from ..song_keys import is_youtube
from ..sources.oembed import OEMBED_URL, OEmbedClient, RateLimitedError
from ..video_facts import Status, VideoFacts
from .store import Store

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
SWEEP_BATCH = 50  # videos between saves: what a killed sweep asks again at most
MAX_SILENT = 50  # videos in a row without an answer before the sweep gives up


def oembed_base(settings: Settings) -> str:
    """YouTube's endpoint; a loopback stand-in only in tests (EARSHOT_TEST_OEMBED_BASE)."""
    base = settings.test_oembed_base if settings.allow_test_hosts else None
    if not base:
        return OEMBED_URL
    if urlsplit(base).hostname not in LOOPBACK_HOSTS:
        raise EarshotError("EARSHOT_TEST_OEMBED_BASE must be on 127.0.0.1 (tests only)")
    return base


class FactChecker:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.base = oembed_base(settings)
        self._client: OEmbedClient | None = None  # one session: connections are reused

    async def close(self) -> None:
        if self._client is not None:
            await self._client.__aexit__(None, None, None)
            self._client = None

    async def _reply_client(self) -> OEmbedClient:
        if self._client is None:
            self._client = await OEmbedClient(self.base).__aenter__()
        return self._client

    def is_fresh(self, facts: VideoFacts, now: float | None = None) -> bool:
        return (now or time.time()) - facts.checked_at < self.settings.facts_ttl_s

    async def current(self, video_ids: Sequence[str]) -> dict[str, VideoFacts]:
        """Facts for these videos: the stored ones, with the missing and stale checked now
        (within the time budget; what does not answer in time keeps what is known)."""
        known = await self.store.facts_of(video_ids)
        now = time.time()
        ask = [  # YouTube's oEmbed speaks for YouTube's videos only
            v
            for v in dict.fromkeys(video_ids)
            if is_youtube(v) and (v not in known or not self.is_fresh(known[v], now))
        ]
        if ask and self.settings.titles_budget_s > 0:
            client = await self._reply_client()
            found = await client.check_many(ask, self.settings.titles_budget_s)
            if found:
                await self.store.write_behind(self.store.save_facts, list(found.values()))
                for video, facts in found.items():
                    if video in known and known[video].status != facts.status:
                        log.info("%s is now %s (was %s)", video, facts.status, known[video].status)
            known.update(found)
        return known

    async def listened(self, video_id: str, title: str, channel: str) -> None:
        """A song yt-dlp just fetched plays, and yt-dlp read its title and channel."""
        facts = VideoFacts(video_id, Status.LIVE, title, channel, time.time())
        await self.store.write_behind(self.store.save_facts, [facts])

    async def sweep(
        self, progress: Callable[[int, int], None], limit: int | None = None
    ) -> dict[str, int]:
        """Check every catalog video never checked, then those checked longer ago than the
        TTL, at VERIFY_RATE requests a second; returns what it found. Each batch is saved
        as it goes, so a killed sweep resumes where it stopped."""
        stale_before = time.time() - self.settings.facts_ttl_s
        total = await self.store.count_to_verify(stale_before)
        if limit is not None:
            total = min(total, limit)
        run = _SweepRun(total, progress, 1.0 / self.settings.verify_rate)
        after = ""  # the never-checked videos come in id order: a cursor, not a rescan
        async with OEmbedClient(self.base) as client:
            while run.done < total:
                want = min(SWEEP_BATCH, total - run.done)
                batch = await self.store.videos_never_checked(after, want)
                if batch:
                    after = batch[-1]
                else:  # then the stale ones (one that did not answer stays stale)
                    batch = [
                        v
                        for v in await self.store.videos_checked_before(
                            stale_before, want + len(run.unanswered)
                        )
                        if v not in run.unanswered
                    ][:want]
                    if not batch:
                        break
                batch, elsewhere = _by_site(batch)
                await self._touch(elsewhere)
                if not batch:
                    continue
                try:
                    saved = await run.check(client, batch)
                except SweepStoppedError as stopped:
                    await self.store.save_facts(stopped.saved)
                    raise
                await self.store.save_facts(saved)
        return run.found

    async def _touch(self, keys: list[str]) -> None:
        """Songs from SoundCloud or Bandcamp: no oEmbed of YouTube's speaks for them, so
        what was said when they were heard stands, marked as checked now."""
        if not keys:
            return
        known = await self.store.facts_of(keys)
        now = time.time()
        await self.store.save_facts(
            [
                dataclasses.replace(known[k], checked_at=now)
                if k in known
                else VideoFacts(k, Status.LIVE, checked_at=now)
                for k in keys
            ]
        )


def _by_site(keys: list[str]) -> tuple[list[str], list[str]]:
    """(YouTube's keys, the others)."""
    return [k for k in keys if is_youtube(k)], [k for k in keys if not is_youtube(k)]


class _SweepRun:
    """One run of the sweep: its counts, its pace, and when to give up."""

    def __init__(self, total: int, progress: Callable[[int, int], None], interval: float):
        self.total = total
        self.progress = progress
        self.interval = interval
        self.found = {"live": 0, "restricted": 0, "gone": 0, "no answer": 0}
        self.unanswered: set[str] = set()
        self.done = 0
        self.silent = 0  # no answer in a row
        self.pause = 30.0

    async def check(self, client: OEmbedClient, batch: list[str]) -> list[VideoFacts]:
        saved: list[VideoFacts] = []
        for video in batch:
            started = time.monotonic()
            try:
                facts = await client.check(video)
            except RateLimitedError:
                log.warning("oEmbed says slow down (HTTP 429); pausing %.0f s", self.pause)
                await asyncio.sleep(self.pause)
                self.pause = min(self.pause * 2, 600.0)
                facts = None
            self.done += 1
            if facts is None:
                self.found["no answer"] += 1
                self.unanswered.add(video)
                self.silent += 1
                if self.silent >= MAX_SILENT:
                    raise SweepStoppedError(saved, self.done)
            else:
                self.silent = 0
                self.found[str(facts.status)] += 1
                saved.append(facts)
            self.progress(self.done, self.total)
            await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))
        return saved


class SweepStoppedError(EarshotError):
    def __init__(self, saved: list[VideoFacts], done: int) -> None:
        super().__init__(
            f"YouTube's oEmbed did not answer {MAX_SILENT} times in a row; stopped after "
            f"{done} videos. Run verify again later: it resumes where it stopped."
        )
        self.saved = saved
