"""The facade that the cogs and the CLI call: ingest, reindex, recommend, ratings, stats.

It owns the store, the open index and the listener, and knows nothing about Discord. Its
public methods are coroutines; blocking and CPU-bound work runs in threads or in child
processes (see ``listening`` and ``rebuild``) so the caller's event loop keeps turning.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .catalog.ingest import ingest
from .catalog.store import Store
from .catalog.verify import FactChecker
from .catalog.vocabulary import Vocabulary
from .config import Settings
from .cooldowns import Cooldowns
from .errors import (
    CatalogEmptyError,
    EarshotError,
    IndexMissingError,
    NotReadyError,
    ReindexRunningError,
)
from .index.rebuild import rebuild_in_background
from .index.rebuild_lock import rebuild_lock
from .index.serving import ServedIndex
from .index.vector_index import VectorIndex
from .index.vectors import STEER_STRENGTH
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
    no_progress,
)
from .sources.links import watch_url
from .sources.naming import parse_song
from .sources.reference import SongRef
from .sources.uploads import Upload
from .video_facts import VideoFacts

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)


MAX_SUGGESTIONS = 50  # per request; Discord's /recommend offers 1 to 20


def check_count(count: int) -> None:
    if not isinstance(count, int) or not 1 <= count <= MAX_SUGGESTIONS:
        raise EarshotError(f"Ask for 1 to {MAX_SUGGESTIONS} suggestions, not {count!r}.")


class Engine:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.served = ServedIndex(settings.index_dir)
        self.listener = Listener(settings, store)
        self.facts = FactChecker(settings, store)
        self.reindex_progress: tuple[str, int, int] | None = None  # while one runs
        self._reindex_lock = asyncio.Lock()
        self._suggester = Suggester(store, self.facts, settings)
        queue = self._queue_redis if settings.queue_url else None
        self._cooldowns = Cooldowns(queue, settings.queue_name)

    @classmethod
    async def open(cls, settings: Settings) -> Engine:
        store = await Store.open_settings(settings)
        engine = cls(settings, store)
        try:
            await engine.served.open()
            await engine._load_labels()
            if settings.index_watch_s > 0:
                engine.served.watch(settings.index_watch_s, engine._reindex_lock)
        except BaseException:
            await store.close()  # its thread would otherwise keep the process alive
            raise
        return engine

    @property
    def index(self) -> VectorIndex | None:
        """The build being served (None: none is)."""
        return self.served.current

    @property
    def index_problem(self) -> str:
        """Why no index serves, or why an earlier build does ('' when all is well)."""
        return self.served.problem

    async def verify_index(self) -> str:
        """Wait for the background check of the serving build: '' when whole."""
        return await self.served.verified()

    async def pick_up_published_index(self) -> bool:
        """Swap in a build another process published to INDEX_DIR; True if swapped."""
        return await self.served.pick_up_published(self._reindex_lock.locked())

    async def _load_labels(self) -> None:
        names, kinds = await self.store.class_names(), await self.store.class_kinds()
        self._suggester.labels = Labels(names, kinds, await self.store.class_parents())
        self.vocabulary = Vocabulary(names, kinds)

    @property
    def _labels(self) -> Labels:
        return self._suggester.labels

    async def close(self) -> None:
        self.served.close()
        await self.listener.close()
        await self.facts.close()
        await self.store.close()  # writes queued while the database was locked go first

    # --- the catalog and its index --------------------------------------------------

    async def ingest(
        self, audioset_dir: Path, meta_dir: Path | None = None, progress: Progress = no_progress
    ) -> IngestReport:
        """Store the music clips of every .tfrecord under ``audioset_dir``."""
        report = await ingest(self.store, audioset_dir, meta_dir, progress)
        await self._load_labels()
        return report

    async def reindex(self, progress: Progress = no_progress) -> IndexInfo:
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
            self.served.swap(new)
            log.info("index rebuilt: %s items in %.1fs", len(new), time.perf_counter() - started)
            return new.info

    # --- cooldowns -------------------------------------------------------------------

    async def _queue_redis(self) -> Redis:
        return (await self.listener.queue()).redis

    async def cooldown_left(self, user_id: int) -> float:
        """Seconds this member must still wait before another answered request."""
        return await self._cooldowns.left(user_id)

    async def start_cooldown(self, user_id: int, seconds: float) -> None:
        await self._cooldowns.start(user_id, seconds)

    # --- recommending ----------------------------------------------------------------

    async def _require_index(self) -> VectorIndex:
        if self.index is None:
            if await self.store.count_tracks() == 0:
                raise CatalogEmptyError()  # the operator has a step more to take
            raise NotReadyError(self.index_problem) if self.index_problem else IndexMissingError()
        if len(self.index) == 0:
            raise CatalogEmptyError()
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
        """Suggestions for a song named any way (``sources.naming``), for ``member`` in
        ``guild`` if given. A catalog clip is used as it is; any other song comes from the
        embedding cache or, with ``listen``, is fetched and embedded (once at a time)."""
        check_count(count)
        ref = parse_song(text)
        index = await self._require_index()
        query, vector = await self._song(index, ref, listen, member)
        items, facts, shortfall = await self._suggester.suggest(
            index, vector, query.video_id, count, member, guild
        )
        return RecommendResult(self._titled(query, facts), items, shortfall)

    async def _song(
        self, index: VectorIndex, ref: SongRef, listen: bool, member: int | None
    ) -> tuple[Query, np.ndarray]:
        """A song heard (``Listener.hear_ref``): how the reply names it, and its vector."""
        song = await self.listener.hear_ref(ref, fetch_new=listen, member=member)
        key, frames, labels = song.key or ref.id, song.frames, song.labels
        heard = await asyncio.to_thread(index.top_tags, frames)
        query = Query(
            key,
            song.url or watch_url(key, song.start_s),
            song.source,
            labels=self._labels.telling_first(labels),
            tags=self._labels.telling_first(heard),
            title=song.title,
            channel=song.channel,
            heard_from=song.heard_from,
            searched=song.searched,
        )
        if query.source == "download":  # yt-dlp read its title: the video plays
            await self.facts.listened(key, query.title, query.channel)
        return query, await asyncio.to_thread(index.query_vector, frames, labels)

    @staticmethod
    def _titled(query: Query, facts: dict[str, VideoFacts]) -> Query:
        """A catalog clip's title and channel, from what YouTube said of its video."""
        told = facts.get(query.video_id)
        if query.source == "catalog" and not query.title and told is not None and told.playable:
            return dataclasses.replace(query, title=told.title, channel=told.channel)
        return query

    async def discover(
        self,
        *,
        genre: str | None = None,
        instrument: str | None = None,
        mood: str | None = None,
        like: str | None = None,
        count: int = 5,
        listen: bool = True,
        member: int | None = None,
        guild: int | None = None,
    ) -> RecommendResult:
        """Suggestions for a described sound (a genre, an instrument, a mood, any of them
        together), alone or steered from a song (``like``, named any way); ranked, rated
        and shown as ``recommend``'s are."""
        check_count(count)
        chosen = self.vocabulary.read(genre=genre, instrument=instrument, mood=mood)
        labels = list(chosen)
        ref = parse_song(like) if like and like.strip() else None
        index = await self._require_index()
        described = " + ".join(chosen.values())
        if ref is None:
            vector = await asyncio.to_thread(index.describe, labels)
            query = Query("", "", "description", described=described)
        else:
            query, song = await self._song(index, ref, listen, member)
            vector = await asyncio.to_thread(index.steer_toward, song, labels, STEER_STRENGTH)
            query = dataclasses.replace(query, described=described)
        items, facts, shortfall = await self._suggester.suggest(
            index, vector, query.video_id, count, member, guild
        )
        return RecommendResult(self._titled(query, facts), items, shortfall)

    async def complete_label(self, kind: str, typed: str) -> list[str]:
        """What a member may mean by ``typed`` as a genre, instrument or mood: the names
        the catalog has clips of, best first (for autocomplete)."""
        index = self.index
        if index is None:
            return self.vocabulary.complete(kind, typed)
        profile = await asyncio.to_thread(index.label_profile)
        counts = {label: profile.count(label) for label in self.vocabulary.labels[kind]}
        return self.vocabulary.complete(kind, typed, counts)

    async def recommend_upload(
        self,
        upload: Upload,
        count: int = 5,
        *,
        member: int | None = None,
        guild: int | None = None,
    ) -> RecommendResult:
        """Suggestions for a member's file or voice message, heard once and not kept."""
        check_count(count)
        index = await self._require_index()
        song = await self.listener.hear_upload(upload, member=member)
        heard = await asyncio.to_thread(index.top_tags, song.frames)
        query = Query(
            "",
            "",
            "upload",
            tags=self._labels.telling_first(heard),
            title=song.title,
            heard_from=song.heard_from,
        )
        vector = await asyncio.to_thread(index.query_vector, song.frames)
        items, _, shortfall = await self._suggester.suggest(index, vector, "", count, member, guild)
        return RecommendResult(query, items, shortfall)

    async def recommend_file(self, path: Path, count: int = 5) -> RecommendResult:
        """Suggestions for a local audio file (operators trying earshot out)."""
        check_count(count)
        index = await self._require_index()
        if not path.is_file():
            raise EarshotError(f"{path} is not a file")
        listened = await self.listener.listen_file(path)
        heard = await asyncio.to_thread(index.top_tags, listened.frames)
        tags = self._labels.telling_first(heard)
        query = Query(path.name, path.resolve().as_uri(), "file", title=listened.title, tags=tags)
        vector = await asyncio.to_thread(index.query_vector, listened.frames)
        items, _, shortfall = await self._suggester.suggest(index, vector, "", count)
        return RecommendResult(query, items, shortfall)

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

    async def reconcile_reactions(self, message_id: int, by_user: dict[int, set[str]]) -> set[int]:
        """Make a reply's stored reactions what Discord shows now (after the bot was
        offline): ratings follow, nothing counted twice. Returns the members changed (none
        known yet when the write had to wait for the database)."""
        changed = await self.store.write_behind(self.store.replace_reactions, message_id, by_user)
        return changed if isinstance(changed, set) else set()

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
