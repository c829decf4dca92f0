"""A Subsonic-API server on 127.0.0.1 that answers as the API's documentation shows
(``subsonic-response`` JSON, salted-token or API-key sign-in, error codes), over a library
of real audio files: ping, getAlbumList2, getAlbum, getPlaylists, getPlaylist, search3,
and stream (the file itself). It can refuse a wrong password and go away
mid-run (``stop_after``)."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

VERSION = "1.16.1"


@dataclass
class Track:
    id: str
    title: str
    artist: str
    album: str
    duration: int
    file: Path
    isrc: list[str] = field(default_factory=list)


@dataclass
class Album:
    id: str
    name: str
    artist: str
    songs: list[Track]


class SubsonicServer:
    def __init__(self, user: str = "earshot", password: str = "s3cret pass", port: int = 0) -> None:
        self.user, self.password = user, password
        self.api_key = ""
        self.albums: list[Album] = []
        self.playlists: dict[str, tuple[str, list[str]]] = {}  # id -> (name, track ids)
        self.calls: list[str] = []  # each method asked for, in order
        self.queries: list[str] = []  # each request's query string, as sent
        self.streamed: list[str] = []
        self.stop_after: int | None = None  # requests answered before it goes away
        self._lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                with standin._lock:
                    if standin.stop_after is not None and len(standin.calls) >= standin.stop_after:
                        threading.Thread(target=standin.close, daemon=True).start()
                        self.close_connection = True
                        self.connection.close()
                        return
                    parts = urlsplit(self.path)
                    method = parts.path.rsplit("/", 1)[-1].removesuffix(".view")
                    standin.calls.append(method)
                    standin.queries.append(parts.query)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if not parts.path.startswith("/rest/"):
                    self._send(404, b"not found", "text/plain")
                    return
                error = standin._signed_in(query)
                if error:
                    self._json({"status": "failed", "error": error})
                    return
                if method == "stream":
                    standin._stream(self, query.get("id", ""))
                    return
                answer = standin._answer(method, query)
                if answer is None:
                    self._json({"status": "failed", "error": {"code": 70, "message": "not found"}})
                    return
                self._json({"status": "ok", **answer})

            def _json(self, body: dict) -> None:
                wrapped = {"subsonic-response": {"version": VERSION, "type": "standin", **body}}
                self._send(200, json.dumps(wrapped).encode(), "application/json")

            def _send(self, status: int, body: bytes, kind: str, extra: dict | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                for name, value in (extra or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._closed = False

    # --- the library ---------------------------------------------------------------------

    def add_album(self, album: Album) -> None:
        self.albums.append(album)

    def add_playlist(self, playlist_id: str, name: str, track_ids: list[str]) -> None:
        self.playlists[playlist_id] = (name, track_ids)

    def _tracks(self) -> dict[str, Track]:
        return {t.id: t for a in self.albums for t in a.songs}

    @staticmethod
    def _child(track: Track) -> dict:
        child = {
            "id": track.id, "title": track.title, "artist": track.artist, "album": track.album,
            "duration": track.duration, "suffix": track.file.suffix.lstrip("."),
            "contentType": "audio/mpeg", "size": track.file.stat().st_size,
            "path": f"{track.artist}/{track.album}/{track.file.name}", "isDir": False,
        }  # fmt: skip
        if track.isrc:
            child["isrc"] = track.isrc  # OpenSubsonic: a list
        return child

    def _answer(self, method: str, query: dict[str, str]) -> dict | None:
        if method == "ping":
            return {}
        if method == "getAlbumList2":
            size, offset = int(query.get("size", "10")), int(query.get("offset", "0"))
            ordered = sorted(self.albums, key=lambda a: a.name.casefold())[offset : offset + size]
            albums = [{"id": a.id, "name": a.name, "artist": a.artist, "songCount": len(a.songs)}
                      for a in ordered]  # fmt: skip
            return {"albumList2": {"album": albums}}
        if method == "getAlbum":
            album = next((a for a in self.albums if a.id == query.get("id")), None)
            if album is None:
                return None
            songs = [self._child(t) for t in album.songs]
            return {"album": {"id": album.id, "name": album.name, "song": songs}}
        if method == "getPlaylists":
            lists = [
                {"id": i, "name": n, "songCount": len(t)} for i, (n, t) in self.playlists.items()
            ]
            return {"playlists": {"playlist": lists}}
        if method == "getPlaylist":
            found = self.playlists.get(query.get("id", ""))
            if found is None:
                return None
            tracks = self._tracks()
            entries = [self._child(tracks[t]) for t in found[1] if t in tracks]
            return {"playlist": {"id": query["id"], "name": found[0], "entry": entries}}
        if method == "search3":
            words = query.get("query", "").casefold()
            albums = [{"id": a.id, "name": a.name} for a in self.albums
                      if words in a.name.casefold()]  # fmt: skip
            return {"searchResult3": {"album": albums}}
        return None

    def _signed_in(self, query: dict[str, str]) -> dict | None:
        if self.api_key and query.get("apiKey"):
            ok = query["apiKey"] == self.api_key
            return None if ok else {"code": 44, "message": "Invalid API key"}
        if query.get("u") != self.user:
            return {"code": 40, "message": "Wrong username or password"}
        if "t" in query and "s" in query:
            expected = hashlib.md5((self.password + query["s"]).encode()).hexdigest()
            ok = query["t"] == expected
        else:
            ok = query.get("p") == self.password
        return None if ok else {"code": 40, "message": "Wrong username or password"}

    def _stream(self, handler: BaseHTTPRequestHandler, track_id: str) -> None:
        track = self._tracks().get(track_id)
        if track is None:
            handler._json({"status": "failed", "error": {"code": 70, "message": "not found"}})  # type: ignore[attr-defined]
            return
        self.streamed.append(track_id)
        body = track.file.read_bytes()
        handler._send(200, body, "audio/mpeg", {"Accept-Ranges": "bytes"})  # type: ignore[attr-defined]

    def __enter__(self) -> SubsonicServer:
        self._thread.start()
        return self

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._server.shutdown()
            self._server.server_close()

    def __exit__(self, *exc: object) -> None:
        self.close()
