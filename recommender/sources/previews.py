"""Sources whose own public pages give a song's name and a 30-second preview without a
key: Deezer, Apple Music, and Spotify's embed page. One lookup, then the preview file,
both through ``web.WebClient`` to the source's own hosts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from . import apple_music, deezer, spotify
from .reference import SongNotFoundError, SongRef, TrackInfo
from .web import Hosts, NotThereError, SourceUnavailableError, WebClient

PREVIEW_BYTES = 4 << 20  # a 30 s MP3 is ~0.5 MB and AAC ~1 MB; a bigger file is not one
FETCH_DEADLINE_S = 30.0  # the lookup and the preview together, redirects included


@dataclass(frozen=True)
class PreviewSource:
    name: str  # as members read it
    api: str
    lookup: Callable[[WebClient, SongRef, str], Awaitable[TrackInfo]]
    preview_hosts: Hosts


PREVIEW_SOURCES = {
    "deezer": PreviewSource("Deezer", deezer.API, deezer.lookup, deezer.PREVIEW_HOSTS),
    "apple_music": PreviewSource(
        "Apple Music", apple_music.API, apple_music.lookup, apple_music.PREVIEW_HOSTS
    ),
    "spotify": PreviewSource("Spotify", spotify.SITE, spotify.lookup, spotify.PREVIEW_HOSTS),
}


class NoPreviewError(SourceUnavailableError):
    """The source has the song but offers no preview of it; ``info`` names the song."""

    def __init__(self, info: TrackInfo, service: str) -> None:
        super().__init__(
            f"{service} offers no preview of {info.name}, so earshot cannot listen to it "
            "from there; paste the song's YouTube link instead."
        )
        self.info = info


async def fetch_preview(
    ref: SongRef, folder: Path, *, test_base: str | None = None
) -> tuple[TrackInfo, Path]:
    """The song's facts and its preview in ``folder``. ``test_base``: the tests' stand-in
    (``EARSHOT_TEST_MUSIC_BASE``), which then also serves the previews."""
    source = PREVIEW_SOURCES[ref.source]
    try:
        async with asyncio.timeout(FETCH_DEADLINE_S):
            return await _fetch(source, ref, folder, test_base)
    except TimeoutError:
        raise SourceUnavailableError(
            f"{source.name} did not answer in time; try again in a minute."
        ) from None


async def _fetch(
    source: PreviewSource, ref: SongRef, folder: Path, test_base: str | None
) -> tuple[TrackInfo, Path]:
    api = f"{test_base}/{ref.source}" if test_base else source.api
    async with WebClient(source.name, allow_loopback=test_base is not None) as client:
        try:
            info = await source.lookup(client, ref, api)
        except NotThereError:
            raise SongNotFoundError(
                f"{source.name} has no such song (or no longer has it); check the link."
            ) from None
        if not info.preview_url:
            raise NoPreviewError(info, source.name)
        path = folder / f"{ref.source}-{ref.id}.audio"
        hosts = source.preview_hosts.with_test_host(test_base)
        await client.download(info.preview_url, hosts, path, PREVIEW_BYTES)
    return info, path
