"""Where a library song plays: a YouTube video found once by its artist and title, by the
rules a song named in words is found by (``sources.youtube_search``: YouTube Music's songs
first, then videos, each scored by ``words.choose``), and remembered in its row.

A sweep over the songs with no link yet, paced (ADD_YOUTUBE_PACE_SECONDS between
searches: YouTube is asked as a person would, not crawled) and resumable: each song's
answer is stored as it comes, so a stop loses nothing. ``add`` runs it after hearing;
``python -m recommender links`` runs it alone. A song no video was found for links to a
YouTube Music search (``song_facts.search_link``) and is looked for again after
LOOK_AGAIN_DAYS."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from ..catalog.store import Store
from ..config import Settings
from ..errors import EarshotError
from ..results import Progress, no_progress
from ..song_facts import Song
from ..sources.words import Wanted
from ..sources.youtube_search import find
from .searched import SEARCH_DEADLINE_S, search_options

log = logging.getLogger(__name__)

LOOK_AGAIN_DAYS = 30
BATCH = 200


@dataclass
class LinkReport:
    found: int = 0
    none: int = 0
    left: int = 0  # songs still without a link looked for (a stop, or --limit)
    stopped: str = ""  # why the sweep ended early ('' it did not)


def wanted(song: Song) -> Wanted:
    words = " ".join(part for part in (song.artist, song.title) if part)
    return Wanted(words, title=song.title, artist=song.artist, duration_s=song.duration_s)


class SongLinks:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.options = search_options(settings)

    async def sweep(self, progress: Progress = no_progress, limit: int | None = None) -> LinkReport:
        """Look for a video for each library song that has none yet (at most ``limit``)."""
        older = time.time() - LOOK_AGAIN_DAYS * 86400
        total = await self.store.count_songs_to_link(older)
        if limit is not None:
            total = min(total, limit)
        report, after, done = LinkReport(), "", 0
        progress("links", 0, total)
        while done < total and not report.stopped:
            batch = await self.store.songs_to_link(after, min(BATCH, total - done), older)
            if not batch:
                break
            for song in batch:
                if done:
                    await asyncio.sleep(self.settings.add_youtube_pace_s)
                try:
                    async with asyncio.timeout(SEARCH_DEADLINE_S):
                        found = await asyncio.to_thread(find, wanted(song), self.options)
                except (EarshotError, TimeoutError) as exc:
                    report.stopped = str(exc) or "YouTube's search did not answer in time"
                    log.warning("links: stopped at %s: %s", song.key, report.stopped)
                    break
                await self.store.save_song_link(
                    song.key, found.video_id if found else "", time.time()
                )
                report.found += found is not None
                report.none += found is None
                done += 1
                progress("links", done, total)
            after = batch[-1].key
        report.left = await self.store.count_songs_to_link(older)
        return report
