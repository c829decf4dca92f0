"""Listening to a song from a source that offers a 30-second preview (Deezer, Apple
Music): its facts and preview fetched in this process, the audio decoded and embedded by
a listening worker like any file, then deleted. The embedding is cached under the song's
key ("deezer:3135556"); a preview never joins the catalog (it is 30 s of someone's
song, and a suggestion must link to something that plays whole)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from ..errors import EarshotError, UnknownVideoError
from ..song_keys import song_key
from ..sources.previews import FETCH_DEADLINE_S, PREVIEW_SOURCES, NoPreviewError, fetch_preview
from ..sources.reference import SongNotFoundError, SongRef, TrackInfo
from ..sources.words import Wanted
from .heard import Heard
from .searched import Searches, hear_found, quote

if TYPE_CHECKING:
    from .listener import Listener


async def hear_preview(
    listener: Listener, searches: Searches, ref: SongRef, *, fetch_new: bool, member: int | None
) -> Heard:
    key, name = song_key(ref.source, ref.id), PREVIEW_SOURCES[ref.source].name
    version = await listener.model_version()
    cached = await listener.store.cached_embedding(key, version)
    if cached is not None:
        frames, meta = cached
        return Heard(
            frames, "cache", [], meta["title"], meta["channel"],
            key=key, url=ref.url, heard_from=_from(name, len(frames)),
        )  # fmt: skip
    if not fetch_new:
        raise UnknownVideoError(key)
    settings = listener.settings
    hold_s = FETCH_DEADLINE_S + settings.request_timeout_s  # the fetch, then the listening
    test_base = settings.test_music_base if settings.allow_test_hosts else None
    async with listener.fetching("preview", key, member, hold_s) as folder:
        try:
            info, path = await fetch_preview(ref, folder, test_base=test_base)
        except NoPreviewError as exc:
            no_preview = exc.info
        else:
            no_preview = None
            listened = await listener.listen_file(path)
    if no_preview is not None:
        return await _search_instead(listener, searches, no_preview, name, fetch_new, member)
    if listened.model_version != version:  # the model changed meanwhile: cache nothing
        raise EarshotError(f"the worker ran model {listened.model_version}, expected {version}")
    await listener.store.write_behind(
        functools.partial(listener.store.cache_song, heard="preview"), key, version,
        listened.frames, info.title, info.artist, info.duration_s,
    )  # fmt: skip
    return Heard(
        listened.frames, "preview", [], info.title, info.artist,
        key=key, url=ref.url, heard_from=_from(name, len(listened.frames)),
    )  # fmt: skip


async def _search_instead(
    listener: Listener,
    searches: Searches,
    info: TrackInfo,
    name: str,
    fetch_new: bool,
    member: int | None,
) -> Heard:
    """A song its source names but offers no preview of: found on YouTube by its title,
    artist and length, as spotDL finds a Spotify song."""
    words = f"{info.title} {info.artist}".strip()
    wanted = Wanted(words, info.title, info.artist, info.duration_s)
    try:
        found = await searches.find(wanted)
    except SongNotFoundError:
        raise SongNotFoundError(
            f"{name} offers no preview of {info.name}, and YouTube has no song that matches "
            "it; paste the song's YouTube link instead."
        ) from None
    said = f"YouTube search for '{quote(words)}'; {name} has no preview of it"
    return await hear_found(listener, found, said, fetch_new=fetch_new, member=member)


def _from(name: str, frames: int) -> str:
    """Where the audio came from, for the reply: "Deezer preview, 30 s"."""
    seconds = round(frames * 0.96)
    return f"{name} preview, {seconds} s"
