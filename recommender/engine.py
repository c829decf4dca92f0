"""The facade that the cogs and the CLI call: ingest, reindex, recommend, ratings, stats.

It owns the store, the open index and the listener, and knows nothing about Discord. Its
public methods are coroutines; blocking and CPU-bound work runs in threads or in child
processes (see ``listening`` and ``rebuild``) so the caller's event loop keeps turning.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .catalog.ingest import ingest
from .catalog.store import Store
from .catalog.verify import FactChecker
from .catalog.vocabulary import Vocabulary
from .config import Settings
from .cooldowns import Cooldowns
from .errors import CatalogEmptyError, EarshotError, ReindexRunningError
from .index.rebuild import rebuild_in_background
from .index.rebuild_lock import rebuild_lock
from .index.serving import ServedIndex
from .index.vector_index import VectorIndex
from .listening.adding import SongAdder
from .listening.hearing import Hearing
from .listening.listener import Listener
from .ranking.presentation import Labels, taste_profile
from .ranking.queries import Asked, Queries, titled
from .ranking.suggestions import Suggester
from .ratings import Reply
from .results import (
    MAX_SUGGESTIONS,
    IndexInfo,
    IngestReport,
    Progress,
    RecommendResult,
    Stats,
    TasteProfile,
    no_progress,
)
from .sources.naming import parse_song
from .sources.uploads import Upload

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)


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
        self.adder = SongAdder(self.listener, store)  # songs a server chose, into the catalog
        self.reindex_progress: tuple[str, int, int] | None = None  # while one runs
        self._reindex_lock = asyncio.Lock()
        self._suggester = Suggester(store, self.facts, settings)
        self._queries = Queries(Hearing(self.listener), self.facts, self._suggester.labels)
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
        self._queries.labels = self._suggester.labels
        self.vocabulary = Vocabulary(names, kinds)

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
        ref = parse_song(text)
        asking = lambda index: self._queries.song(index, ref, listen, member)  # noqa: E731
        return await self._answer(asking, count, member, guild)

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
        chosen = self.vocabulary.read(genre=genre, instrument=instrument, mood=mood)
        ref = parse_song(like) if like and like.strip() else None
        asking = lambda index: self._queries.description(index, chosen, ref, listen, member)  # noqa: E731
        return await self._answer(asking, count, member, guild)

    async def complete_label(self, kind: str, typed: str) -> list[str]:
        """What a member may mean by ``typed`` as a genre, instrument or mood (autocomplete)."""
        return await self._queries.complete(self.index, self.vocabulary, kind, typed)

    async def recommend_upload(
        self, upload: Upload, count: int = 5, *, member: int | None = None,
        guild: int | None = None,
    ) -> RecommendResult:  # fmt: skip
        """Suggestions for a member's file or voice message, heard once and not kept."""
        asking = lambda index: self._queries.upload(index, upload, member)  # noqa: E731
        return await self._answer(asking, count, member, guild)

    async def recommend_file(self, path: Path, count: int = 5) -> RecommendResult:
        """Suggestions for a local audio file (operators trying earshot out)."""
        return await self._answer(lambda index: self._queries.file(index, path), count)

    async def _answer(
        self, asking: Callable[[VectorIndex], Awaitable[Asked]], count: int,
        member: int | None = None, guild: int | None = None,
    ) -> RecommendResult:  # fmt: skip
        """What was asked (checked first: the count, then the index), searched, ranked."""
        check_count(count)
        index = await self.served.require(self.store.count_tracks)
        query, vector = await asking(index)
        items, facts, shortfall = await self._suggester.suggest(
            index, vector, query.video_id, count, member, guild
        )
        return RecommendResult(titled(query, facts), items, shortfall)

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
            self._suggester.labels, rows, await self.store.tracks_by_ids([t for t, _, _ in rows])
        )

    # --- figures ---------------------------------------------------------------------

    async def stats(self, *, videos: bool = False) -> Stats:
        """Counts for people; ``videos`` adds what YouTube said of the catalog's videos (a
        scan of the catalog: for /stats and verify, not for start-up)."""
        index = self.index
        songs, unlinked = await self.store.song_counts()
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
            songs=songs,
            songs_without_video=unlinked,
        )
