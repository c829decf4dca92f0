"""The facade that the cogs and the CLI call: ingest, reindex, recommend, ratings, stats.

It owns the store, the open index and the listener, and knows nothing about Discord. Its
public methods are coroutines; blocking and CPU-bound work runs in threads or in child
processes (see ``listening`` and ``rebuild``) so the caller's event loop keeps turning.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from pathlib import Path

import numpy as np

from .catalog.ingest import ingest
from .catalog.store import Store
from .catalog.verify import FactChecker
from .config import Settings
from .cooldowns import REDIS_BUDGET_S, LocalCooldowns, RedisCooldowns
from .errors import (
    CatalogEmptyError,
    EarshotError,
    IndexMissingError,
    NotReadyError,
    ReindexRunningError,
)
from .index.rebuild import rebuild_in_background
from .index.rebuild_lock import rebuild_lock
from .index.vector_index import IndexUnreadableError, VectorIndex, VerifyStopped, current_build
from .listening.jobs import QueueUnavailableError
from .listening.listener import Listener
from .ranking.presentation import Labels, taste_profile
from .ranking.suggestions import Suggester
from .ratings import Reply
from .results import (
    IndexInfo,
    IngestReport,
    Progress,
    Query,
    RecommendResult,
    Stats,
    TasteProfile,
)
from .sources.links import parse_link, watch_url

log = logging.getLogger(__name__)


MAX_SUGGESTIONS = 50  # per request; Discord's /recommend offers 1 to 20


def _no_progress(stage: str, done: int, total: int) -> None:
    pass


def check_count(count: int) -> None:
    if not isinstance(count, int) or not 1 <= count <= MAX_SUGGESTIONS:
        raise EarshotError(f"Ask for 1 to {MAX_SUGGESTIONS} suggestions, not {count!r}.")


class Engine:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.index: VectorIndex | None = None
        self.listener = Listener(settings, store)
        self.facts = FactChecker(settings, store)
        self.reindex_progress: tuple[str, int, int] | None = None  # while one runs
        self._reindex_lock = asyncio.Lock()
        self._suggester = Suggester(store, self.facts, settings)
        self._cooldowns: LocalCooldowns | RedisCooldowns = LocalCooldowns()
        self._shared_cooldowns = False
        self._watcher: asyncio.Task[None] | None = None
        self._unreadable: str | None = None  # a published build that would not open (logged)
        self.index_problem = ""  # why no index serves, or why an earlier build does
        self._damaged: set[str] = set()  # builds that failed verify in this process
        self._verifying: asyncio.Task[None] | None = None
        self._closing = threading.Event()  # stops a verify thread at close

    @classmethod
    async def open(cls, settings: Settings) -> Engine:
        store = await Store.open_settings(settings)
        engine = cls(settings, store)
        try:
            try:
                engine.index = await asyncio.to_thread(VectorIndex.open_current, settings.index_dir)
                engine.index_problem = engine.index.stands_in_for if engine.index else ""
            except IndexUnreadableError as exc:  # damaged, or built by an older earshot
                engine.index_problem = str(exc)
                log.error("%s; serving without an index until it is rebuilt", exc)
            engine._verify_later()
            await engine._load_labels()
            if settings.index_watch_s > 0:
                engine._watcher = asyncio.create_task(engine._watch_index())
        except BaseException:
            await store.close()  # its thread would otherwise keep the process alive
            raise
        return engine

    def _verify_later(self) -> None:
        """Check the serving build's large files in the background (a damaged vector must
        not be served); on damage, fall back to an earlier build or to none."""
        index = self.index
        if index is not None:
            self._verifying = asyncio.create_task(self._verify(index))

    async def _verify(self, index: VectorIndex) -> None:
        try:
            await asyncio.to_thread(index.verify, self._closing)
        except VerifyStopped:
            return
        except IndexUnreadableError as exc:
            log.error("%s", exc)
            self._damaged.add(index.path.name)
            if self.index is index:
                self.index_problem = str(exc)
                try:
                    self.index = await asyncio.to_thread(
                        VectorIndex.open_current, self.settings.index_dir, self._damaged
                    )
                    if self.index is not None and self.index.stands_in_for:
                        self.index_problem = self.index.stands_in_for
                except IndexUnreadableError:
                    self.index = None
                index.close()
                self._verify_later()

    async def verify_index(self) -> str:
        """Wait for the background check of the serving build (and of any build it fell
        back to): '' when whole, else what is wrong."""
        while self._verifying is not None and not self._verifying.done():
            await asyncio.shield(self._verifying)
        return self.index_problem

    async def _load_labels(self) -> None:
        names, kinds = await self.store.class_names(), await self.store.class_kinds()
        self._suggester.labels = Labels(names, kinds)

    @property
    def _labels(self) -> Labels:
        return self._suggester.labels

    async def close(self) -> None:
        self._closing.set()
        for task in (self._watcher, self._verifying):
            if task is not None:
                task.cancel()
        await self.listener.close()
        await self.facts.close()
        if self.index is not None:
            self.index.close()
        await self.store.close()  # writes queued while the database was locked go first

    # --- the catalog and its index --------------------------------------------------

    async def ingest(
        self, audioset_dir: Path, meta_dir: Path | None = None, progress: Progress = _no_progress
    ) -> IngestReport:
        """Store the music clips of every .tfrecord under ``audioset_dir``."""
        report = await ingest(self.store, audioset_dir, meta_dir, progress)
        await self._load_labels()
        return report

    async def reindex(self, progress: Progress = _no_progress) -> IndexInfo:
        """Train the tagger, build a new index beside the live one and swap it in."""
        if self._reindex_lock.locked():
            stage, done, total = self.reindex_progress or ("starting", 0, 0)
            raise ReindexRunningError(f"A reindex is already running ({stage}: {done}/{total}).")
        async with self._reindex_lock:
            if await self.store.count_tracks() == 0:
                raise CatalogEmptyError()
            self.reindex_progress = ("starting", 0, 0)

            def report(stage: str, done: int, total: int) -> None:
                self.reindex_progress = (stage, done, total)
                progress(stage, done, total)

            started = time.perf_counter()
            try:
                async with rebuild_lock(self.settings.index_dir):  # once across hosts
                    path = await rebuild_in_background(self.settings, report)
            finally:
                self.reindex_progress = None
            new = await asyncio.to_thread(VectorIndex, path)
            old, self.index, self.index_problem = self.index, new, ""
            if old is not None:
                old.close()
            self._verify_later()
            log.info("index rebuilt: %s items in %.1fs", len(new), time.perf_counter() - started)
            return new.info

    async def _watch_index(self) -> None:
        """Pick up a build that another process (or host) published to INDEX_DIR: CURRENT
        is only ever pointed at a complete, renamed build, so a swap here is atomic."""
        while True:
            await asyncio.sleep(self.settings.index_watch_s)
            try:
                await self.pick_up_published_index()
            except asyncio.CancelledError:
                raise
            except Exception:  # a watcher that dies would leave this process stale
                log.exception("looking for a newly published index failed; trying again")

    async def pick_up_published_index(self) -> bool:
        """Swap in the build CURRENT names if it is not the one serving; True if swapped."""
        path = await asyncio.to_thread(current_build, self.settings.index_dir)
        if path is None or self._reindex_lock.locked():
            return False
        if self.index is not None and self.index.path.name == path.name:
            return False
        if path.name in self._damaged:
            return False
        try:
            new = await asyncio.to_thread(VectorIndex, path)
        except IndexUnreadableError as exc:  # maybe still being copied: look again later
            if self._unreadable != path.name:
                self._unreadable = path.name
                log.error("%s; the index in use keeps serving until it is whole", exc)
            return False
        old, self.index, self.index_problem = self.index, new, ""
        if old is not None:
            old.close()
        self._verify_later()
        log.info("picked up published index %s (%d items)", path.name, len(new))
        return True

    # --- cooldowns -------------------------------------------------------------------

    async def _cooldown_store(self) -> LocalCooldowns | RedisCooldowns:
        if self.settings.queue_url and not self._shared_cooldowns:
            try:  # within the cooldowns' budget: the member is waiting for a first response
                queue = await asyncio.wait_for(self.listener.queue(), REDIS_BUDGET_S)
            except TimeoutError:
                log.warning("cooldowns kept in this process for now: Redis is slow to answer")
            except QueueUnavailableError as exc:
                log.warning("cooldowns kept in this process for now: %s", exc.operator_hint)
            else:
                self._cooldowns = RedisCooldowns(queue.redis, self.settings.queue_name)
                self._shared_cooldowns = True
        return self._cooldowns

    async def cooldown_left(self, user_id: int) -> float:
        """Seconds this member must still wait before another answered request."""
        return await (await self._cooldown_store()).left(user_id)

    async def start_cooldown(self, user_id: int, seconds: float) -> None:
        if seconds > 0:
            await (await self._cooldown_store()).start(user_id, seconds)

    # --- recommending ----------------------------------------------------------------

    async def _require_index(self) -> VectorIndex:
        if self.index is None:
            if await self.store.count_tracks() == 0:
                raise CatalogEmptyError()  # the operator has a step more to take
            raise NotReadyError(self.index_problem) if self.index_problem else IndexMissingError()
        return self.index

    async def recommend(
        self,
        text: str,
        count: int = 5,
        *,
        listen: bool = True,
        member: int | None = None,
        guild: int | None = None,
    ) -> RecommendResult:
        """Suggestions for a YouTube link or id, for ``member`` in ``guild`` if given.

        A catalog clip is used as it is; any other video comes from the embedding cache
        or, with ``listen``, is fetched and embedded (one computation per video at a time).
        """
        check_count(count)
        link = parse_link(text)
        video_id = link.video_id
        index = await self._require_index()
        tracks = [t for t in await self.store.tracks_by_video(video_id) if t.source != "member"]
        if tracks:
            frames = np.concatenate([t.frames for t in tracks])  # type: ignore[misc]
            labels = sorted({label for t in tracks for label in t.labels})
            heard = await asyncio.to_thread(index.top_tags, frames)
            query = Query(
                video_id,
                watch_url(video_id, tracks[0].start_s),
                "catalog",
                labels=self._labels(labels),
                tags=self._labels(heard),
            )
        else:
            if len(index) == 0:
                raise CatalogEmptyError()
            listened, source = await self.listener.listen(
                video_id, fetch_new=listen, start_s=link.start_s, member=member
            )
            frames, labels = listened.frames, []
            heard = await asyncio.to_thread(index.top_tags, frames)
            query = Query(
                video_id,
                watch_url(video_id),
                source,
                tags=self._labels(heard),
                title=listened.title,
                channel=listened.channel,
            )
        if query.source == "download":  # yt-dlp read its title: the video plays
            await self.facts.listened(video_id, query.title, query.channel)
        items, facts = await self._suggester.suggest(
            index, frames, labels, video_id, count, member, guild, heard=heard
        )
        told = facts.get(video_id)
        if query.source == "catalog" and told is not None and told.playable:
            query = dataclasses.replace(query, title=told.title, channel=told.channel)
        return RecommendResult(query, items)

    async def recommend_file(self, path: Path, count: int = 5) -> RecommendResult:
        """Suggestions for a local audio file (operators trying earshot out)."""
        check_count(count)
        index = await self._require_index()
        if not path.is_file():
            raise EarshotError(f"{path} is not a file")
        listened = await self.listener.listen_file(path)
        heard = await asyncio.to_thread(index.top_tags, listened.frames)
        tags = self._labels(heard)
        query = Query(path.name, path.resolve().as_uri(), "file", title=listened.title, tags=tags)
        items, _ = await self._suggester.suggest(index, listened.frames, [], "", count, heard=heard)
        return RecommendResult(query, items)

    # --- replies and ratings ---------------------------------------------------------

    async def record_reply(
        self,
        message_id: int,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        result: RecommendResult,
    ) -> None:
        """Which suggestion stands at which position of a reply, for later reactions."""
        items = tuple((item.track_id, item.video_id) for item in result.items)
        reply = Reply(message_id, guild_id, channel_id, user_id, result.query.video_id, items)
        await self.store.write_behind(self.store.record_reply, reply)

    async def react(self, user_id: int, message_id: int, reaction: str, present: bool) -> bool:
        """A member's reaction on a reply, added or removed. ``reaction`` is one of
        ``ratings.REACTION_KEYS``: '1'..'10' (like that suggestion) or 'down' (the rest
        missed). True when stored, or queued because another process holds the database
        locked (written in order as soon as the lock goes); False when the message is not
        an earshot reply."""
        return await self.store.write_behind(
            self.store.set_reaction, user_id, message_id, reaction, present
        )

    async def recent_replies(self, days: float) -> list[tuple[int, int, int | None]]:
        """(message, channel, guild) of the replies of the last ``days`` days, newest first."""
        return await self.store.recent_replies(time.time() - days * 86400)

    async def reconcile_reactions(self, message_id: int, by_user: dict[int, set[str]]) -> int:
        """Make a reply's stored reactions what Discord shows now (after the bot was
        offline): ratings follow, nothing counted twice. Returns members changed."""
        return await self.store.write_behind(self.store.replace_reactions, message_id, by_user)

    async def forget_member(self, user_id: int) -> int:
        """Delete a member's ratings completely (they asked)."""
        return await self.store.forget_member(user_id)

    async def taste(self, user_id: int) -> TasteProfile:
        """Counts and the labels most common in what a member liked and skipped."""
        rows = await self.store.ratings_of(user_id)
        return taste_profile(
            self._labels, rows, await self.store.tracks_by_ids([t for t, _, _ in rows])
        )

    # --- figures ---------------------------------------------------------------------

    async def stats(self, *, videos: bool = False) -> Stats:
        """Counts for people; ``videos`` adds what YouTube said of the catalog's videos (a
        scan of the catalog: for /stats and verify, not for start-up)."""
        index = self.index
        return Stats(
            tracks=await self.store.count_tracks(),
            member_tracks=await self.store.count_tracks("member"),
            indexed=len(index) if index else 0,
            cached_embeddings=await self.store.count_embeddings(),
            ratings=await self.store.count_ratings(),
            ingest=await self.store.ingest_summary(),
            index=index.info if index else None,
            schema_version=await self.store.schema_version(),
            pending_writes=self.store.pending_writes,
            videos=await self.store.verification_counts() if videos else {},
        )
