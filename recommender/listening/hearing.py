"""A song named any way, heard: the face over the ways a song reaches the listener. YouTube,
SoundCloud and Bandcamp links go to the listener as they are; a preview source's song is
heard from its preview (``previews``), words through a YouTube search (``searched``), and
a member's file as it was uploaded (``uploads``). Those modules use the listener; the
listener knows none of them, so the imports run one way."""

from __future__ import annotations

from ..song_keys import song_key
from ..sources.previews import PREVIEW_SOURCES
from ..sources.reference import SongRef
from ..sources.uploads import Upload
from .heard import Heard
from .listener import Listener
from .previews import hear_preview
from .searched import Searches, hear_words
from .uploads import hear_upload


class Hearing:
    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self.searches = Searches(listener.settings)  # songs named in words, found on YouTube

    async def ref(self, ref: SongRef, *, fetch_new: bool, member: int | None) -> Heard:
        """A song named any way (``sources.naming``), heard from where its source allows."""
        if ref.source in PREVIEW_SOURCES:
            return await hear_preview(
                self.listener, self.searches, ref, fetch_new=fetch_new, member=member
            )
        if ref.source == "words":
            return await hear_words(
                self.listener, self.searches, ref.id, fetch_new=fetch_new, member=member
            )
        key = song_key(ref.source, ref.id)
        return await self.listener.hear(
            key, fetch_new=fetch_new, start_s=ref.start_s, member=member
        )

    async def upload(self, upload: Upload, *, member: int | None) -> Heard:
        """A member's file or voice message: fetched, heard, deleted; never kept."""
        return await hear_upload(self.listener, upload, member=member)
