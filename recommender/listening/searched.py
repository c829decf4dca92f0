"""Hearing a song named in words, or one whose source has no preview: YouTube is searched
(``sources.youtube_search``, in a thread), and the video found is heard like a linked one
(catalog, cache or listened to). What words found is remembered for a while, so a song
asked for twice is searched once."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

from ..config import Settings
from ..sources.reference import SongNotFoundError
from ..sources.web import SourceUnavailableError
from ..sources.words import Wanted
from ..sources.youtube_search import Found, SearchOptions, find
from .heard import Heard

if TYPE_CHECKING:
    from .listener import Listener

SEARCH_DEADLINE_S = 25.0  # both searches together
REMEMBERED = 512  # searches kept
REMEMBER_S = 6 * 3600.0  # YouTube's best result for a name changes slowly
QUOTED = 50  # characters of the member's words quoted back


def search_options(settings: Settings) -> SearchOptions:
    test = settings.allow_test_hosts
    return SearchOptions(
        proxy=settings.ytdlp_proxy,
        test_proxy=settings.test_youtube_proxy if test else None,
        test_ca=settings.test_youtube_ca if test else None,
    )


class Searches:
    """YouTube searches by name, each remembered for ``REMEMBER_S``."""

    def __init__(self, settings: Settings) -> None:
        self.options = search_options(settings)
        self._found: OrderedDict[Wanted, tuple[float, Found]] = OrderedDict()

    async def find(self, wanted: Wanted) -> Found:
        known = self._found.get(wanted)
        if known is not None and time.monotonic() - known[0] < REMEMBER_S:
            self._found.move_to_end(wanted)
            return known[1]
        try:
            async with asyncio.timeout(SEARCH_DEADLINE_S):
                found = await asyncio.to_thread(find, wanted, self.options)
        except TimeoutError:
            raise SourceUnavailableError(
                "YouTube's search did not answer in time; try again in a minute, or paste "
                "the song's link."
            ) from None
        if found is None:
            raise SongNotFoundError(
                f"YouTube has no song that matches '{quote(wanted.words)}'. Check the "
                "spelling, add the artist, or paste the song's link."
            )
        self._found[wanted] = (time.monotonic(), found)
        while len(self._found) > REMEMBERED:
            self._found.popitem(last=False)
        return found


def quote(words: str) -> str:
    return words if len(words) <= QUOTED else words[: QUOTED - 1].rstrip() + "…"


async def hear_found(
    listener: Listener, found: Found, heard_from: str, *, fetch_new: bool, member: int | None
) -> Heard:
    """The video a search found, heard like a linked one, saying how it was found."""
    heard = await listener.hear(found.video_id, fetch_new=fetch_new, start_s=None, member=member)
    return dataclasses.replace(
        heard,
        title=found.title or heard.title,  # YouTube Music names the artist, not a channel
        channel=found.channel or heard.channel,
        key=found.video_id,
        heard_from=heard_from,
        searched=True,
    )


async def hear_words(
    listener: Listener, searches: Searches, words: str, *, fetch_new: bool, member: int | None
) -> Heard:
    found = await searches.find(Wanted(words))
    said = f"YouTube search for '{quote(words)}'"
    return await hear_found(listener, found, said, fetch_new=fetch_new, member=member)
