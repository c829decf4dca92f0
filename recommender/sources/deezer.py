"""Deezer track links, parsed without the network: ``www.deezer.com[/xx]/track/ID``.
Deezer's share short links (``link.deezer.com``, ``deezer.page.link``) only redirect
there, which needs the network: a member is asked for the full link."""

from __future__ import annotations

import re

from .reference import SongNotFoundError, SongRef, TrackInfo
from .urls import BadLink, Link, track_id
from .web import Hosts, WebClient

HOSTS = frozenset({"deezer.com", "www.deezer.com"})
SHORT_HOSTS = frozenset({"link.deezer.com", "deezer.page.link"})
TRACK_ID = re.compile(r"[0-9]{1,15}")
LISTS = frozenset({"album", "playlist", "artist", "show", "episode", "profile", "radio"})


def page(track_id: str) -> str:
    return f"https://www.deezer.com/track/{track_id}"


def parse(link: Link) -> SongRef | None:
    if link.host in SHORT_HOSTS:
        raise BadLink(
            "that is a Deezer share link, which earshot cannot open without following it; "
            "open it and copy the deezer.com/track/… link"
        )
    if link.host not in HOSTS:
        return None
    segments = link.segments
    if segments and re.fullmatch(r"[a-z]{2}", segments[0]):  # the site's language
        segments = segments[1:]
    track = track_id(segments, TRACK_ID, service="Deezer", lists=LISTS)
    return SongRef("deezer", track, page(track))


# --- what Deezer's public API says of a track (no key) -----------------------------------

API = "https://api.deezer.com"
API_HOSTS = Hosts(frozenset({"api.deezer.com"}))
PREVIEW_HOSTS = Hosts(frozenset(), (".dzcdn.net",))  # previews expire: read them at once


async def lookup(client: WebClient, ref: SongRef, api: str = API) -> TrackInfo:
    """``GET /track/ID``. Deezer answers an unknown id with 200 and an ``error`` object."""
    body = await client.json(f"{api}/track/{ref.id}", API_HOSTS.with_test_host(api))
    if not isinstance(body, dict) or "error" in body or not body.get("title"):
        raise SongNotFoundError(
            f"Deezer has no track {ref.id} (or no longer has it); check the link."
        )
    artist = body.get("artist") if isinstance(body.get("artist"), dict) else {}
    duration = body.get("duration")
    return TrackInfo(
        ref,
        str(body["title"]),
        str(artist.get("name") or ""),
        float(duration) if isinstance(duration, int | float) and duration > 0 else None,
        str(body.get("preview") or ""),
        str(body.get("isrc") or ""),
    )
