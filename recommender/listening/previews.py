"""Listening to a song from a source that offers a 30-second preview (Deezer, Apple
Music): its facts and preview fetched in this process, the audio decoded and embedded by
a listening worker like any file, then deleted. The embedding is cached under the song's
key ("deezer:3135556"); a preview never joins the catalog (it is 30 s of someone's
song, and a suggestion must link to something that plays whole)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import EarshotError, UnknownVideoError
from ..sources.previews import FETCH_DEADLINE_S, PREVIEW_SOURCES, fetch_preview
from ..sources.reference import SongRef
from .heard import Heard

if TYPE_CHECKING:
    from .listener import Listener


def song_key(ref: SongRef) -> str:
    """A song's key in the cache and in replies: a YouTube id as it is, else source:id."""
    return ref.id if ref.source == "youtube" else f"{ref.source}:{ref.id}"


async def hear_preview(
    listener: Listener, ref: SongRef, *, fetch_new: bool, member: int | None
) -> Heard:
    key, name = song_key(ref), PREVIEW_SOURCES[ref.source].name
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
    claim = (
        listener.members.claim(member, key, hold_s)
        if member is not None
        else contextlib.nullcontext()
    )
    folder = settings.data_dir / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    async with claim:
        # The pid in the name lets a later start clear what a killed process left.
        with tempfile.TemporaryDirectory(prefix=f"preview-{os.getpid()}-", dir=folder) as tmp:
            test_base = settings.test_music_base if settings.allow_test_hosts else None
            info, path = await fetch_preview(ref, Path(tmp), test_base=test_base)
            listened = await listener.listen_file(path)
    if listened.model_version != version:  # the model changed meanwhile: cache nothing
        raise EarshotError(f"the worker ran model {listened.model_version}, expected {version}")
    await listener.store.write_behind(
        listener.store.cache_song, key, version, listened.frames, info.title, info.artist,
        info.duration_s,
    )  # fmt: skip
    return Heard(
        listened.frames, "preview", [], info.title, info.artist,
        key=key, url=ref.url, heard_from=_from(name, len(listened.frames)),
    )  # fmt: skip


def _from(name: str, frames: int) -> str:
    """Where the audio came from, for the reply: "Deezer preview, 30 s"."""
    seconds = round(frames * 0.96)
    return f"{name} preview, {seconds} s"
