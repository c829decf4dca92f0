"""Spotify track links, parsed without the network: ``open.spotify.com/track/ID``
(also ``/intl-xx/track/ID``, with any tracking parameters) and ``spotify:track:ID``.
Albums, playlists, artists, shows and episodes name no one song."""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import quote

from .reference import ONE_SONG, SongNotFoundError, SongRef, TrackInfo
from .urls import BadLink, Link, track_id
from .web import Hosts, WebClient

log = logging.getLogger(__name__)

HOSTS = frozenset({"open.spotify.com"})
TRACK_ID = re.compile(r"[0-9A-Za-z]{22}")  # base62
LISTS = frozenset({"album", "playlist", "artist", "show", "episode", "collection", "user"})


def page_url(track_id: str) -> str:
    return f"https://open.spotify.com/track/{track_id}"


def parse_uri(text: str) -> SongRef | None:
    """``spotify:track:ID``; None if the text is no Spotify URI."""
    if not text.lower().startswith("spotify:"):
        return None
    parts = text.split(":")
    parts[1:2] = [p.lower() for p in parts[1:2]]
    if len(parts) == 3 and parts[1] == "track" and TRACK_ID.fullmatch(parts[2]):
        return SongRef("spotify", parts[2], page_url(parts[2]))
    if len(parts) >= 2 and parts[1] in LISTS:
        raise BadLink(f"that Spotify {parts[1]} is not one song: {ONE_SONG}")
    raise BadLink("that Spotify URI does not name a track")


def parse(link: Link) -> SongRef | None:
    if link.host in ("spotify.link", "spotify.app.link"):
        raise BadLink(
            "that is a Spotify share link, which earshot cannot open without following it; "
            "open it and copy the open.spotify.com/track/… link"
        )
    if link.host not in HOSTS:
        return None
    segments = link.segments
    if segments and segments[0].startswith("intl-"):
        segments = segments[1:]
    if segments[:1] == ["embed"]:
        segments = segments[1:]
    track = track_id(segments, TRACK_ID, service="Spotify", lists=LISTS)
    return SongRef("spotify", track, page_url(track))


# --- what Spotify's public pages say of a track (no key) ---------------------------------
# The Web API needs a Premium developer account for new apps (2026) and gives new apps no
# previews (2024). The embed page (open.spotify.com/embed/track/ID) carries the track's
# name, artists, length and, when there is one, a 30 s preview, in its __NEXT_DATA__
# JSON; it is a page, not an API, and may change shape: then the keyless oEmbed still
# gives the title, and the log says so.

SITE = "https://open.spotify.com"
SITE_HOSTS = Hosts(frozenset({"open.spotify.com"}))
PREVIEW_HOSTS = Hosts(frozenset({"p.scdn.co"}))
NEXT_DATA = re.compile(
    r'<script[^>]*id="__NEXT_DATA__"[^>]*>(.*?)</script>', re.DOTALL | re.IGNORECASE
)


def _entity(page: str) -> dict | None:
    """The track in the embed page's data: the object that has an ``audioPreview`` or,
    failing that, ``name``, ``artists`` and ``duration``."""
    found = NEXT_DATA.search(page)
    if not found:
        return None
    try:
        data = json.loads(found.group(1))
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python reads
        return None
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if (
                "name" in node
                and isinstance(node.get("artists"), list)
                and ("audioPreview" in node or "duration" in node)
            ):
                return node
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return None


async def lookup(client: WebClient, ref: SongRef, site: str = SITE) -> TrackInfo:
    hosts = SITE_HOSTS.with_test_host(site)
    page = await client.text(f"{site}/embed/track/{ref.id}", hosts)
    entity = _entity(page)
    if entity is not None:
        preview = entity.get("audioPreview")
        duration = entity.get("duration")
        artists = [a.get("name", "") for a in entity["artists"] if isinstance(a, dict)]
        return TrackInfo(
            ref,
            str(entity["name"]),
            ", ".join(a for a in artists if a),
            duration / 1000 if isinstance(duration, int | float) and duration > 0 else None,
            str(preview.get("url") or "") if isinstance(preview, dict) else "",
        )
    log.warning(
        "Spotify's embed page for %s has no track data in the shape earshot reads (it may "
        "have changed); using its oEmbed title only",
        ref.id,
    )
    body = await client.json(f"{site}/oembed?url={quote(page_url(ref.id), safe='')}", hosts)
    if not isinstance(body, dict) or not body.get("title"):
        raise SongNotFoundError(f"Spotify has no track {ref.id} (or no longer has it).")
    return TrackInfo(ref, str(body["title"]), "", None, "")
