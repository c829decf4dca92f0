"""A music service's playlist or album, for ``add``: parsed without the network, then its
songs listed by the service's own keyless API, each named by artist, title, album and
length (earshot then finds each on YouTube Music by the rules words are found by).

Deezer: ``www.deezer.com[/xx]/playlist/ID`` and ``/album/ID``, listed by
``api.deezer.com/{playlist,album}/ID/tracks`` a page at a time. Apple Music:
``music.apple.com/CC/album/NAME/ID``, listed by the iTunes lookup
(``/lookup?id=ID&entity=song``). Spotify's lists need an account, and YouTube's,
SoundCloud's and Bandcamp's come through yt-dlp: not listed here yet."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..song_facts import SongFound, fact_text, isrc_or_empty
from . import apple_music, deezer
from .urls import BadLink, split_link
from .web import WebClient

MAX_LIST_SONGS = 10_000  # the most a list may bring in one add
PAGE = 100
LIST_ID = re.compile(r"[0-9]{1,15}")
ACCEPTED_LISTS = (
    "a Deezer playlist or album (www.deezer.com/playlist/ID, /album/ID) or an Apple Music "
    "album (music.apple.com/us/album/NAME/ID)"
)


@dataclass(frozen=True)
class ListRef:
    service: str  # "deezer" or "apple_music"
    kind: str  # "playlist" or "album"
    id: str
    country: str = "us"  # Apple's storefront

    @property
    def name(self) -> str:
        service = "Deezer" if self.service == "deezer" else "Apple Music"
        return f"{service} {self.kind} {self.id}"


def parse_list(text: str) -> ListRef:
    """A playlist's or album's link, read without the network; anything else is refused
    with what is accepted."""
    try:
        link = split_link(text.strip())
    except BadLink as exc:
        raise BadLink(f"{exc.reason}; give {ACCEPTED_LISTS}") from None
    segments, country = link.segments, "us"
    if segments and re.fullmatch(r"[a-z]{2}", segments[0]):
        country, segments = segments[0], segments[1:]
    listed = len(segments) >= 2 and LIST_ID.fullmatch(segments[-1]) is not None
    if link.host in deezer.HOSTS and listed and len(segments) == 2:
        if segments[0] in ("playlist", "album"):
            return ListRef("deezer", segments[0], segments[1])
    elif link.host in apple_music.HOSTS and listed and segments[0] == "album":
        return ListRef("apple_music", "album", segments[-1], country)
    raise BadLink(f"earshot cannot list the songs of that link; give {ACCEPTED_LISTS}")


async def list_songs(client: WebClient, ref: ListRef, api: str) -> list[SongFound]:
    """The list's songs, in its order (at most MAX_LIST_SONGS)."""
    if ref.service == "deezer":
        return await _deezer(client, ref, api)
    return await _apple_album(client, ref, api)


async def _deezer(client: WebClient, ref: ListRef, api: str) -> list[SongFound]:
    hosts = deezer.API_HOSTS.with_test_host(api)
    about = await client.json(f"{api}/{ref.kind}/{ref.id}", hosts)
    if not isinstance(about, dict) or "error" in about:
        raise BadLink(f"Deezer has no {ref.kind} {ref.id} (or it is private); check the link")
    album = str(about.get("title") or "") if ref.kind == "album" else ""
    songs: list[SongFound] = []
    while len(songs) < MAX_LIST_SONGS:
        page = await client.json(
            f"{api}/{ref.kind}/{ref.id}/tracks?index={len(songs)}&limit={PAGE}", hosts
        )
        data = page.get("data") if isinstance(page, dict) else None
        if not isinstance(data, list) or not data:
            break
        songs += [_deezer_song(t, album) for t in data if isinstance(t, dict) and t.get("id")]
        if not page.get("next"):
            break
    return songs[:MAX_LIST_SONGS]


def _deezer_song(track: dict, album: str) -> SongFound:
    artist = track.get("artist") if isinstance(track.get("artist"), dict) else {}
    on = track.get("album") if isinstance(track.get("album"), dict) else {}
    duration = track.get("duration")
    title = fact_text(track.get("title"))
    return SongFound(
        origin=f"deezer:{track['id']}",
        artist=fact_text(artist.get("name")),
        title=title,
        album=album or fact_text(on.get("title")),
        duration_s=float(duration) if isinstance(duration, int | float) and duration > 0
        else None,
        isrc=isrc_or_empty(str(track.get("isrc") or "")),
        display_name=title,
    )  # fmt: skip


async def _apple_album(client: WebClient, ref: ListRef, api: str) -> list[SongFound]:
    hosts = apple_music.API_HOSTS.with_test_host(api)
    body = await client.json(
        f"{api}/lookup?id={ref.id}&entity=song&limit=200&country={ref.country}", hosts
    )
    results = body.get("results") if isinstance(body, dict) else None
    songs = [r for r in results or [] if isinstance(r, dict) and r.get("kind") == "song"]
    if not songs:
        raise BadLink(f"Apple Music has no album {ref.id} with songs; check the link")
    return [_apple_song(song) for song in songs[:MAX_LIST_SONGS]]


def _apple_song(song: dict) -> SongFound:
    millis = song.get("trackTimeMillis")
    return SongFound(
        origin=f"apple_music:{song.get('trackId')}",
        artist=fact_text(song.get("artistName")),
        title=fact_text(song.get("trackName")),
        album=fact_text(song.get("collectionName")),
        duration_s=millis / 1000 if isinstance(millis, int | float) and millis > 0 else None,
        display_name=fact_text(song.get("trackName")),
    )
