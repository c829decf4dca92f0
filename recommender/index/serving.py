"""The build a process serves: opened from INDEX_DIR, its large files checked in the
background (a damaged build falls back to an earlier one, or to none, and says why), and
swapped when a rebuild finishes here or another process publishes one."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

from ..errors import CatalogEmptyError, IndexDamagedError, IndexMissingError
from .vector_index import IndexUnreadableError, VectorIndex, VerifyStopped, current_build

log = logging.getLogger(__name__)


class ServedIndex:
    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir
        self.current: VectorIndex | None = None
        self.problem = ""  # why no build serves, or why an earlier build does
        self._damaged: set[str] = set()  # builds that failed verify in this process
        self._unreadable: str | None = None  # a published build that would not open (logged)
        self._verifying: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._closing = threading.Event()  # stops a verify thread at close

    async def require(self, catalog_tracks: Callable[[], Awaitable[int]]) -> VectorIndex:
        """The build serving, or the reason there is none, in words for a member (an empty
        catalog is the operator's step still to take)."""
        if self.current is None:
            if await catalog_tracks() == 0:
                raise CatalogEmptyError()
            raise IndexDamagedError(self.problem) if self.problem else IndexMissingError()
        if len(self.current) == 0:
            raise CatalogEmptyError()
        return self.current

    async def open(self) -> None:
        """Serve the build CURRENT names (or the newest whole one before it)."""
        try:
            self.current = await asyncio.to_thread(VectorIndex.open_current, self.index_dir)
            self.problem = self.current.stands_in_for if self.current else ""
        except IndexUnreadableError as exc:  # damaged, or built by an older earshot
            self.problem = str(exc)
            log.error("%s; serving without an index until it is rebuilt", exc)
        self._verify_later()

    def swap(self, new: VectorIndex) -> None:
        """Serve ``new`` from now on; the old build is closed (readers keep their mmap)."""
        old, self.current, self.problem = self.current, new, ""
        if old is not None:
            old.close()
        self._verify_later()

    def _verify_later(self) -> None:
        """Check the serving build's large files in the background (a damaged vector must
        not be served); on damage, fall back to an earlier build or to none."""
        index = self.current
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
            if self.current is index:
                self.problem = str(exc)
                try:
                    self.current = await asyncio.to_thread(
                        VectorIndex.open_current, self.index_dir, self._damaged
                    )
                    if self.current is not None and self.current.stands_in_for:
                        self.problem = self.current.stands_in_for
                except IndexUnreadableError:
                    self.current = None
                index.close()
                self._verify_later()

    async def verified(self) -> str:
        """Wait for the background check of the serving build (and of any build it fell
        back to): '' when whole, else what is wrong."""
        while self._verifying is not None and not self._verifying.done():
            await asyncio.shield(self._verifying)
        return self.problem

    def watch(self, every_s: float, busy: asyncio.Lock) -> None:
        """Look for a newly published build every ``every_s`` (not while ``busy``)."""
        self._watcher = asyncio.create_task(self._watch(every_s, busy))

    async def _watch(self, every_s: float, busy: asyncio.Lock) -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.pick_up_published(busy.locked())
            except asyncio.CancelledError:
                raise
            except Exception:  # a watcher that dies would leave this process stale
                log.exception("looking for a newly published index failed; trying again")

    async def pick_up_published(self, rebuilding: bool = False) -> bool:
        """Swap in the build CURRENT names if it is not the one serving: CURRENT is only
        ever pointed at a complete, renamed build, so a swap is atomic. True if swapped."""
        path = await asyncio.to_thread(current_build, self.index_dir)
        if path is None or rebuilding:
            return False
        if self.current is not None and self.current.path.name == path.name:
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
        self.swap(new)
        log.info("picked up published index %s (%d items)", path.name, len(new))
        return True

    def close(self) -> None:
        self._closing.set()
        for task in (self._watcher, self._verifying):
            if task is not None:
                task.cancel()
        if self.current is not None:
            self.current.close()
