"""A Subsonic-API server's songs (Navidrome, Gonic, Airsonic, anything OpenSubsonic): the
whole library, one playlist or one album, each with what the server says of it, and a
song's audio, bounded.

Every call is ``GET <server>/rest/<method>`` with ``u``, ``v``, ``c`` and ``f=json``, and
the user's password as a salted token (``t`` = md5(password + salt), ``s`` = the salt),
or the OpenSubsonic ``apiKey`` when one is set; every answer is wrapped in
``subsonic-response`` with ``status`` "ok" or "failed" and ``error.code`` (40: wrong user
or password). The password never leaves this process: not in a log, not in a file.

Blocking (``requests``): call it in a thread. The server is the owner's own, so it may
be on a private address, unlike the sites members name.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from ..errors import EarshotError
from ..song_facts import SongFound, fact_text, isrc_or_empty
from .web import SourceUnavailableError

log = logging.getLogger(__name__)

API_VERSION = "1.16.1"
CLIENT = "earshot"
TIMEOUT_S = 20.0
PAGE = 500  # albums per getAlbumList2 call (the API's maximum)
STREAM_FORMAT = {"format": "mp3", "maxBitRate": "128"}  # a small, bounded copy to hear
CHUNK = 1 << 16

# The API's error codes, in words an owner can act on.
_ERRORS = {
    10: "a required parameter was missing (is this a Subsonic server?)",
    20: "the server needs a newer client: it does not speak API version " + API_VERSION,
    30: "the server is too old for API version " + API_VERSION,
    40: "wrong user or password: check SUBSONIC_USER and SUBSONIC_PASSWORD in .env",
    41: "the server does not accept password tokens: set SUBSONIC_API_KEY instead",
    42: "the server does not accept this way of signing in",
    43: "the server does not accept API keys this way",
    44: "the API key was not accepted: check SUBSONIC_API_KEY in .env",
    50: "that user may not do this on the server",
    70: "the server has no such item",
}


class SubsonicError(EarshotError):
    """The server answered, and said no."""


@dataclass(frozen=True)
class Credentials:
    user: str = ""
    password: str = ""
    api_key: str = ""

    def __repr__(self) -> str:  # never the secrets, in a traceback or a log
        return f"Credentials(user={self.user!r}, password=***, api_key=***)"

    def params(self) -> dict[str, str]:
        if self.api_key:
            return {"apiKey": self.api_key}
        if not self.user or not self.password:
            raise SubsonicError(
                "earshot needs a user for the Subsonic server: set SUBSONIC_USER and "
                "SUBSONIC_PASSWORD (or SUBSONIC_API_KEY) in .env"
            )
        salt = secrets.token_hex(8)
        token = hashlib.md5((self.password + salt).encode()).hexdigest()  # the API's own
        return {"u": self.user, "t": token, "s": salt}


def server_base(url: str) -> str:
    """The server's address as earshot keeps it: scheme, host, port and path, never a user,
    password or query ("https://music.example.com/navidrome")."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SubsonicError(f"{url!r} is not a server's address (https://host[:port][/path])")
    port = f":{parts.port}" if parts.port else ""
    path = parts.path.rstrip("/").removesuffix("/rest")
    return f"{parts.scheme}://{parts.hostname}{port}{path}"


class Subsonic:
    def __init__(self, url: str, credentials: Credentials) -> None:
        self.base = server_base(url)
        self.credentials = credentials
        self.session = requests.Session()
        self.session.trust_env = False  # the owner's server, reached as given

    def _get(self, method: str, stream: bool = False, **params: str) -> requests.Response:
        query = {"v": API_VERSION, "c": CLIENT, "f": "json", **self.credentials.params()}
        try:
            response = self.session.get(
                f"{self.base}/rest/{method}",
                params={**query, **params},
                timeout=TIMEOUT_S,
                stream=stream,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise SourceUnavailableError(
                f"the Subsonic server at {self.base} did not answer ({type(exc).__name__}); "
                "check that it is running and its address, then run the same command again"
            ) from None
        if response.status_code != 200:
            response.close()
            raise SourceUnavailableError(
                f"the Subsonic server at {self.base} answered HTTP {response.status_code} "
                f"to {method}"
            )
        return response

    def call(self, method: str, **params: str) -> dict[str, Any]:
        """One API call's ``subsonic-response``; a failed one raises in words."""
        response = self._get(method, **params)
        try:
            body = response.json()["subsonic-response"]
        except (ValueError, KeyError, TypeError):
            raise SubsonicError(
                f"{self.base} did not answer {method} as a Subsonic server does"
            ) from None
        if body.get("status") != "ok":
            error = body.get("error") or {}
            code = error.get("code")
            said = _ERRORS.get(code) or str(error.get("message") or "no reason given")[:200]
            raise SubsonicError(f"the Subsonic server at {self.base} refused {method}: {said}")
        return body

    def ping(self) -> None:
        self.call("ping")

    # --- listing ------------------------------------------------------------------------

    def library(self) -> Iterator[SongFound]:
        """Every song, album by album (alphabetical), a page of albums at a time."""
        offset = 0
        while True:
            page = self.call(
                "getAlbumList2", type="alphabeticalByName", size=str(PAGE), offset=str(offset)
            )
            albums = (page.get("albumList2") or {}).get("album") or []
            for album in albums:
                yield from self._album_songs(str(album.get("id", "")))
            if len(albums) < PAGE:
                return
            offset += PAGE

    def playlist(self, wanted: str) -> list[SongFound]:
        """One playlist's songs, by its id or its name (case aside)."""
        lists = (self.call("getPlaylists").get("playlists") or {}).get("playlist") or []
        match = _named(lists, wanted)
        if match is None:
            names = ", ".join(str(p.get("name", "")) for p in lists[:20]) or "none"
            raise SubsonicError(f"the server has no playlist {wanted!r} (it has: {names})")
        body = self.call("getPlaylist", id=str(match["id"]))
        return [self._song(s) for s in (body.get("playlist") or {}).get("entry") or []]

    def album(self, wanted: str) -> list[SongFound]:
        """One album's songs, by its id or its name."""
        found = self.call("search3", query=wanted, albumCount="20", songCount="0",
                          artistCount="0")  # fmt: skip
        albums = (found.get("searchResult3") or {}).get("album") or []
        match = _named(albums, wanted)
        album_id = str(match["id"]) if match else wanted
        return list(self._album_songs(album_id))

    def _album_songs(self, album_id: str) -> Iterator[SongFound]:
        body = self.call("getAlbum", id=album_id)
        for song in (body.get("album") or {}).get("song") or []:
            yield self._song(song)

    def _song(self, song: dict[str, Any]) -> SongFound:
        isrc = song.get("isrc")  # OpenSubsonic: a list; some servers: one text
        codes = isrc if isinstance(isrc, list) else [isrc] if isrc else []
        duration = song.get("duration")
        return SongFound(
            origin=f"{self.base}#{song.get('id', '')}",
            artist=fact_text(song.get("artist")),
            title=fact_text(song.get("title")),
            album=fact_text(song.get("album")),
            duration_s=float(duration) if isinstance(duration, int | float) and duration > 0
            else None,
            isrc=next((c for c in map(isrc_or_empty, map(str, codes)) if c), ""),
            display_name=fact_text(song.get("path")) or fact_text(song.get("title")),
        )  # fmt: skip

    # --- audio --------------------------------------------------------------------------

    def fetch(self, origin: str, into: Path, max_bytes: int) -> Path:
        """A song's audio (an mp3 the server makes of it, at most ``max_bytes``) into a
        file in the folder ``into``."""
        song_id = origin.rpartition("#")[2]
        response = self._get("stream", stream=True, id=song_id, **STREAM_FORMAT)
        kind = response.headers.get("Content-Type", "")
        if kind.startswith(("application/json", "text/xml", "application/xml")):
            body = response.content[:4096]
            response.close()
            raise SubsonicError(f"the Subsonic server would not stream that song: {body[:200]!r}")
        path = into / "song.audio"
        got = 0
        try:
            with open(path, "wb") as out:
                for chunk in response.iter_content(CHUNK):
                    out.write(chunk[: max_bytes - got])
                    got += len(chunk)
                    if got >= max_bytes:
                        log.info("%s: cut at %d bytes (DOWNLOAD_MAX_BYTES)", origin, max_bytes)
                        break
        except requests.RequestException:
            raise SourceUnavailableError(
                f"the Subsonic server at {self.base} stopped sending a song; run the same "
                "command again to go on"
            ) from None
        finally:
            response.close()
        return path

    def close(self) -> None:
        self.session.close()


def _named(items: list[dict[str, Any]], wanted: str) -> dict[str, Any] | None:
    for item in items:
        if str(item.get("id")) == wanted:
            return item
    folded = wanted.casefold().strip()
    return next((i for i in items if str(i.get("name", "")).casefold().strip() == folded), None)
