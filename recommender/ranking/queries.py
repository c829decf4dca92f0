"""What a member asked about, as a search point and as the reply names it: a song named any
way (heard by the listener), a member's upload, a local file, or a described sound (alone
or steered from a song)."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import numpy as np

from ..catalog.verify import FactChecker
from ..catalog.vocabulary import Vocabulary
from ..errors import EarshotError
from ..index.vector_index import VectorIndex
from ..index.vectors import STEER_STRENGTH
from ..listening.hearing import Hearing
from ..results import Query
from ..sources.links import watch_url
from ..sources.reference import SongRef
from ..sources.uploads import Upload
from ..video_facts import VideoFacts
from .presentation import Labels

Asked = tuple[Query, np.ndarray]


class Queries:
    def __init__(self, hearing: Hearing, facts: FactChecker, labels: Labels) -> None:
        self.hearing = hearing
        self.listener = hearing.listener
        self.facts = facts
        self.labels = labels  # replaced when the catalog's classes are read again
        self._profiling: asyncio.Future[object] | None = None

    async def song(
        self, index: VectorIndex, ref: SongRef, listen: bool, member: int | None
    ) -> Asked:
        """A song heard (``Hearing.ref``)."""
        song = await self.hearing.ref(ref, fetch_new=listen, member=member)
        key, frames, labels = song.key or ref.id, song.frames, song.labels
        heard = await asyncio.to_thread(index.top_tags, frames)
        query = Query(
            key,
            song.url or watch_url(key, song.start_s),
            song.source,
            labels=self.labels.telling_first(labels),
            tags=self.labels.telling_first(heard),
            title=song.title,
            channel=song.channel,
            heard_from=song.heard_from,
            searched=song.searched,
        )
        if query.source == "download":  # yt-dlp read its title: the video plays
            await self.facts.listened(key, query.title, query.channel)
        return query, await asyncio.to_thread(index.query_vector, frames, labels)

    async def upload(self, index: VectorIndex, upload: Upload, member: int | None) -> Asked:
        """A member's file or voice message, heard once and not kept."""
        song = await self.hearing.upload(upload, member=member)
        query = Query(
            "", "", "upload", tags=await self._heard(index, song.frames), title=song.title,
            heard_from=song.heard_from,
        )  # fmt: skip
        return query, await asyncio.to_thread(index.query_vector, song.frames)

    async def file(self, index: VectorIndex, path: Path) -> Asked:
        """A local audio file (operators trying earshot out)."""
        if not path.is_file():
            raise EarshotError(f"{path} is not a file")
        listened = await self.listener.listen_file(path)
        tags = await self._heard(index, listened.frames)
        query = Query(path.name, path.resolve().as_uri(), "file", title=listened.title, tags=tags)
        return query, await asyncio.to_thread(index.query_vector, listened.frames)

    async def description(
        self,
        index: VectorIndex,
        chosen: dict[int, str],
        like: SongRef | None,
        listen: bool,
        member: int | None,
    ) -> Asked:
        """Described labels (``Vocabulary.read``), alone or steered from a song."""
        labels, described = list(chosen), " + ".join(chosen.values())
        if like is None:
            vector = await asyncio.to_thread(index.describe, labels)
            return Query("", "", "description", described=described), vector
        query, song = await self.song(index, like, listen, member)
        vector = await asyncio.to_thread(index.steer_toward, song, labels, STEER_STRENGTH)
        return dataclasses.replace(query, described=described), vector

    async def complete(
        self, index: VectorIndex | None, vocabulary: Vocabulary, kind: str, typed: str
    ) -> list[str]:
        """Autocomplete for a genre, instrument or mood: the names the catalog has clips
        of, best first. Discord waits 3 s for choices: until the index's label profile is
        read (a second or so per million clips, in the background), every name is offered."""
        if index is None:
            return vocabulary.complete(kind, typed)
        if not index.has_label_profile:
            if self._profiling is None or self._profiling.done():
                self._profiling = asyncio.ensure_future(asyncio.to_thread(index.label_profile))
            return vocabulary.complete(kind, typed)
        profile = index.label_profile()
        counts = {label: profile.count(label) for label in vocabulary.labels[kind]}
        return vocabulary.complete(kind, typed, counts)

    async def _heard(self, index: VectorIndex, frames: np.ndarray) -> list[str]:
        return self.labels.telling_first(await asyncio.to_thread(index.top_tags, frames))


def titled(query: Query, facts: dict[str, VideoFacts]) -> Query:
    """A catalog clip's title and channel, from what YouTube said of its video."""
    told = facts.get(query.video_id)
    if query.source == "catalog" and not query.title and told is not None and told.playable:
        return dataclasses.replace(query, title=told.title, channel=told.channel)
    return query
