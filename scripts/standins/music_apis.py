"""Deezer's public API and the iTunes lookup, stood in for on 127.0.0.1, with their
preview files, answering in the shapes their documentation shows:

- ``GET /deezer/track/ID``: a track object (``title``, ``duration``, ``isrc``,
  ``preview``, ``artist.name``...), or, for an unknown id, HTTP 200 with
  ``{"error": {"type": "DataException", "message": "no data", "code": 800}}``.
- ``GET /apple_music/lookup?id=ID&entity=song``: ``{"resultCount": n, "results": [...]}``
  with ``wrapperType``/``kind``/``trackId``/``trackName``/``artistName``/
  ``trackTimeMillis``/``previewUrl``; ``resultCount`` 0 for an unknown id.
- ``GET /spotify/embed/track/ID``: Spotify's embed page, its track in the page's
  ``__NEXT_DATA__`` JSON (``name``, ``artists``, ``duration`` in ms, ``audioPreview.url``);
  404 for an unknown id. ``spotify_page_changed`` serves a page without that data.
- ``GET /spotify/oembed?url=…``: Spotify's oEmbed (``title`` is the track's name only).
- ``GET /previews/NAME``: a preview file from ``root``.

``status_for[path] = code`` answers that path with that status, ``redirect_for[path] =
url`` sends a 302 there, ``delay_s`` slows every answer. ``requests`` lists the paths."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


class MusicApis:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.deezer: dict[str, dict] = {}
        self.apple: dict[str, dict] = {}
        self.spotify: dict[str, dict] = {}
        self.spotify_page_changed = False
        self.deezer_lists: dict[tuple[str, str], tuple[str, list[str]]] = {}  # -> title, ids
        self.apple_albums: dict[str, tuple[str, list[str]]] = {}  # album id -> title, ids
        self.status_for: dict[str, int] = {}
        self.redirect_for: dict[str, str] = {}
        self.delay_s = 0.0
        self.requests: list[str] = []  # paths
        self.queries: list[str] = []  # paths with their query strings
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                server.requests.append(parts.path)
                server.queries.append(self.path)
                if server.delay_s:
                    time.sleep(server.delay_s)
                if parts.path in server.redirect_for:
                    self.send_response(302)
                    self.send_header("Location", server.redirect_for[parts.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if parts.path in server.status_for:
                    self._send(server.status_for[parts.path], b"{}", "application/json")
                    return
                segments = [s for s in parts.path.split("/") if s]
                query = parse_qs(parts.query)
                if segments[:2] in (["deezer", "playlist"], ["deezer", "album"]):
                    self._send(200, json.dumps(server.deezer_list(segments, query)).encode(),
                               "application/json")  # fmt: skip
                elif segments[:2] == ["deezer", "track"] and len(segments) == 3:
                    track = server.deezer.get(segments[2]) or {
                        "error": {"type": "DataException", "message": "no data", "code": 800}
                    }
                    self._send(200, json.dumps(track).encode(), "application/json")
                elif segments == ["apple_music", "lookup"]:
                    found = [server.apple[i] for i in query.get("id", []) if i in server.apple]
                    for album in query.get("id", []):
                        if album in server.apple_albums:
                            title, ids = server.apple_albums[album]
                            found = [{"wrapperType": "collection", "collectionId": int(album),
                                      "collectionName": title}]  # fmt: skip
                            found += [{**server.apple[i], "collectionName": title} for i in ids]
                    body = {"resultCount": len(found), "results": found}
                    self._send(200, json.dumps(body).encode(), "text/javascript")
                elif segments[:3] == ["spotify", "embed", "track"] and len(segments) == 4:
                    track = server.spotify.get(segments[3])
                    if track is None:
                        self._send(404, b"<html>Page not found</html>", "text/html")
                    else:
                        self._send(200, server.embed_page(track).encode(), "text/html")
                elif segments == ["spotify", "oembed"]:
                    url = (query.get("url") or [""])[0]
                    track = server.spotify.get(url.rstrip("/").rsplit("/", 1)[-1])
                    if track is None:
                        self._send(404, b'{"error": "not found"}', "application/json")
                    else:
                        body = server.oembed(track)
                        self._send(200, json.dumps(body).encode(), "application/json")
                elif segments[:1] == ["previews"] and len(segments) == 2:
                    path = server.root / segments[1]
                    if path.is_file():
                        self._send(200, path.read_bytes(), "audio/mpeg")
                    else:
                        self._send(404, b"not found", "text/plain")
                else:
                    self._send(404, b"not found", "text/plain")

            def _send(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def preview_url(self, name: str) -> str:
        return f"{self.base}/previews/{name}"

    def add_deezer(self, track_id: str, title: str, artist: str, seconds: int, preview: str):
        self.deezer[track_id] = {
            "id": int(track_id),
            "readable": True,
            "title": title,
            "title_short": title,
            "isrc": "FRZ039800212",
            "link": f"https://www.deezer.com/track/{track_id}",
            "duration": seconds,
            "rank": 900000,
            "explicit_lyrics": False,
            "preview": self.preview_url(preview) if preview else "",
            "artist": {"id": 27, "name": artist, "type": "artist"},
            "album": {"id": 302127, "title": "Discovery", "type": "album"},
            "type": "track",
        }

    def deezer_list(self, segments: list[str], query: dict[str, list[str]]) -> dict:
        """``/playlist/ID`` and ``/album/ID``, and their ``/tracks`` a page at a time
        (``index``, ``limit``; ``next`` while more remain), as Deezer's API answers."""
        kind, list_id = segments[1], segments[2] if len(segments) > 2 else ""
        found = self.deezer_lists.get((kind, list_id))
        if found is None:
            return {"error": {"type": "DataException", "message": "no data", "code": 800}}
        title, ids = found
        if segments[3:] != ["tracks"]:
            return {"id": int(list_id), "title": title, "nb_tracks": len(ids), "type": kind}
        index = int((query.get("index") or ["0"])[0])
        limit = min(int((query.get("limit") or ["25"])[0]), 100)
        page = [{k: v for k, v in self.deezer[i].items() if k != "isrc"}
                for i in ids[index : index + limit]]  # fmt: skip
        body: dict = {"data": page, "total": len(ids)}
        if index + limit < len(ids):
            body["next"] = f"https://api.deezer.com/{kind}/{list_id}/tracks?index={index + limit}"
        return body

    def add_deezer_list(self, kind: str, list_id: str, title: str, track_ids: list[str]) -> None:
        self.deezer_lists[(kind, list_id)] = (title, track_ids)

    def add_apple_album(self, album_id: str, title: str, track_ids: list[str]) -> None:
        self.apple_albums[album_id] = (title, track_ids)

    def add_apple(self, track_id: str, title: str, artist: str, seconds: int, preview: str):
        self.apple[track_id] = {
            "wrapperType": "track",
            "kind": "song",
            "trackId": int(track_id),
            "trackName": title,
            "artistName": artist,
            "collectionName": "Discovery",
            "trackTimeMillis": seconds * 1000,
            "previewUrl": self.preview_url(preview) if preview else "",
            "trackViewUrl": f"https://music.apple.com/us/album/x/1?i={track_id}",
            "country": "USA",
        }

    def add_spotify(
        self, track_id: str, title: str, artists: list[str], seconds: int, preview: str
    ):
        self.spotify[track_id] = {
            "type": "track",
            "name": title,
            "uri": f"spotify:track:{track_id}",
            "id": track_id,
            "title": title,
            "artists": [
                {"name": a, "uri": f"spotify:artist:{n:022d}"} for n, a in enumerate(artists)
            ],
            "releaseDate": {"isoString": "2000-11-13T00:00:00Z"},
            "duration": seconds * 1000,
            "isPlayable": True,
            "isExplicit": False,
            "audioPreview": {"url": self.preview_url(preview), "format": "MP3_96"}
            if preview
            else None,
            "hasVideo": False,
        }

    def embed_page(self, track: dict) -> str:
        if self.spotify_page_changed:
            return "<!DOCTYPE html><html><body><div id='root'></div></body></html>"
        data = {
            "props": {
                "pageProps": {
                    "state": {
                        "data": {"entity": track, "embeded_entity_uri": track["uri"]},
                        "settings": {"rtl": False, "session": {"isAnonymous": True}},
                    }
                }
            },
            "page": "/track/[id]",
            "query": {"id": track["id"]},
            "buildId": "stand-in",
        }
        return (
            "<!DOCTYPE html><html><head><title>Spotify Embed</title></head><body>"
            '<div id="__next"></div>'
            f'<script id="__NEXT_DATA__" type="application/json">{json.dumps(data)}</script>'
            "</body></html>"
        )

    @staticmethod
    def oembed(track: dict) -> dict:
        return {
            "html": f'<iframe src="https://open.spotify.com/embed/track/{track["id"]}"></iframe>',
            "iframe_url": f"https://open.spotify.com/embed/track/{track['id']}",
            "width": 456,
            "height": 152,
            "version": "1.0",
            "provider_name": "Spotify",
            "provider_url": "https://spotify.com",
            "type": "rich",
            "title": track["name"],
            "thumbnail_url": "https://image-cdn-ak.spotifycdn.com/image/ab67616d00001e02",
            "thumbnail_width": 300,
            "thumbnail_height": 300,
        }

    def __enter__(self) -> MusicApis:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
