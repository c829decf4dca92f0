"""Apple Music song links, parsed without the network:
``music.apple.com/CC/album/NAME/ALBUMID?i=TRACKID`` (a song on its album's page) and
``music.apple.com/CC/song/NAME/TRACKID``. An album without ``?i=`` is no one song."""

from __future__ import annotations

import re

from .reference import ONE_SONG, SongNotFoundError, SongRef, TrackInfo
from .urls import BadLink, Link
from .web import Hosts, WebClient

HOSTS = frozenset({"music.apple.com", "geo.music.apple.com"})
ITEM_ID = re.compile(r"[0-9]{1,15}")
LISTS = frozenset({"album", "playlist", "artist", "station", "curator"})


def page(track_id: str, country: str = "us") -> str:
    """The song's page in a storefront (the iTunes lookup answers for that store)."""
    return f"https://music.apple.com/{country}/song/{track_id}"


def parse(link: Link) -> SongRef | None:
    if link.host not in HOSTS:
        return None
    segments, country = link.segments, "us"
    if segments and re.fullmatch(r"[a-z]{2}", segments[0]):  # the storefront's country
        country, segments = segments[0], segments[1:]
    track = (link.query.get("i") or [""])[0]
    if segments[:1] == ["album"] and ITEM_ID.fullmatch(track):
        return SongRef("apple_music", track, page(track, country))
    if segments[:1] == ["song"] and segments and ITEM_ID.fullmatch(segments[-1]):
        return SongRef("apple_music", segments[-1], page(segments[-1], country))
    if segments and segments[0] in LISTS:
        raise BadLink(f"that Apple Music {segments[0]} is not one song: {ONE_SONG}")
    raise BadLink("that Apple Music link does not name a song")


# --- what the iTunes lookup says of a song (no key) --------------------------------------

API = "https://itunes.apple.com"
API_HOSTS = Hosts(frozenset({"itunes.apple.com"}))
PREVIEW_HOSTS = Hosts(frozenset({"audio-ssl.itunes.apple.com"}))


async def lookup(client: WebClient, ref: SongRef, api: str = API) -> TrackInfo:
    """``GET /lookup?id=ID&entity=song``: ``resultCount`` 0 for an unknown id."""
    country = ref.url.split("/")[3] if ref.url.count("/") >= 4 else "us"
    body = await client.json(
        f"{api}/lookup?id={ref.id}&entity=song&country={country}", API_HOSTS.with_test_host(api)
    )
    results = body.get("results") if isinstance(body, dict) else None
    songs = [
        r
        for r in results or []
        if isinstance(r, dict) and r.get("kind") == "song" and str(r.get("trackId")) == ref.id
    ]
    if not songs:
        raise SongNotFoundError(
            f"Apple Music has no song {ref.id} (or no longer has it); check the link."
        )
    song = songs[0]
    millis = song.get("trackTimeMillis")
    return TrackInfo(
        ref,
        str(song.get("trackName") or ""),
        str(song.get("artistName") or ""),
        millis / 1000 if isinstance(millis, int | float) and millis > 0 else None,
        str(song.get("previewUrl") or ""),
    )
