"""YouTube's and YouTube Music's search, stood in for on 127.0.0.1 as an HTTPS proxy.

earshot's search clients (yt-dlp's ``youtube:search`` extractor and ytmusicapi) only ever
call ``https://www.youtube.com`` and ``https://music.youtube.com``. Pointed at this proxy
(``EARSHOT_TEST_YOUTUBE_PROXY``), their CONNECT to those two hosts is answered here with a
certificate from a throwaway CA (``EARSHOT_TEST_YOUTUBE_CA``); a CONNECT to any other host
is refused and recorded in ``refused``. Behind it, the innertube answers, in the shapes
the clients parse:

- ``GET /`` (either host): a page with ``ytcfg.set({...VISITOR_DATA...});``.
- ``POST music.youtube.com/youtubei/v1/search``: the "songs" shelf of YouTube Music
  (``musicShelfRenderer`` of ``musicResponsiveListItemRenderer``s: title, then artist •
  album • length runs, the video id under the play button, ``MUSIC_VIDEO_TYPE_ATV``).
- ``POST www.youtube.com/youtubei/v1/search``: ``videoRenderer``s (title, channel, length).

``songs[query]`` and ``videos[query]`` are the results (the query lowercased, spaces
collapsed); ``status_for[query] = code`` answers that query's searches with that status,
``delay_s`` slows every search. ``searches`` lists (host, query) as asked.
"""

from __future__ import annotations

import contextlib
import json
import socketserver
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import trustme

HOSTS = ("www.youtube.com", "music.youtube.com")
DOT = {"text": " • "}


@dataclass(frozen=True)
class Result:
    video_id: str
    title: str
    artist: str  # the artist on YouTube Music; the channel in a video search
    duration_s: int
    album: str = ""


def _clock(seconds: int) -> str:
    return f"{seconds // 60}:{seconds % 60:02d}"


def _key(query: str) -> str:
    return " ".join(query.lower().split())


def song_item(song: Result) -> dict:
    runs: list[dict] = [
        {"text": song.artist, "navigationEndpoint": {"browseEndpoint": {"browseId": "UCartist"}}}
    ]
    if song.album:
        album = {"browseEndpoint": {"browseId": "MPREb_album"}}
        runs += [DOT, {"text": song.album, "navigationEndpoint": album}]
    runs += [DOT, {"text": _clock(song.duration_s)}]
    watch = {
        "videoId": song.video_id,
        "watchEndpointMusicSupportedConfigs": {
            "watchEndpointMusicConfig": {"musicVideoType": "MUSIC_VIDEO_TYPE_ATV"}
        },
    }
    return {
        "musicResponsiveListItemRenderer": {
            "overlay": {
                "musicItemThumbnailOverlayRenderer": {
                    "content": {
                        "musicPlayButtonRenderer": {
                            "playNavigationEndpoint": {"watchEndpoint": watch}
                        }
                    }
                }
            },
            "flexColumns": [
                {
                    "musicResponsiveListItemFlexColumnRenderer": {
                        "text": {
                            "runs": [
                                {"text": song.title, "navigationEndpoint": {"watchEndpoint": watch}}
                            ]
                        }
                    }
                },
                {"musicResponsiveListItemFlexColumnRenderer": {"text": {"runs": runs}}},
            ],
            "playlistItemData": {"videoId": song.video_id},
        }
    }


def songs_answer(songs: list[Result]) -> dict:
    if not songs:  # YouTube Music's "no results" section
        sections = [{"itemSectionRenderer": {"contents": [{"messageRenderer": {}}]}}]
    else:
        sections = [
            {
                "musicShelfRenderer": {
                    "title": {"runs": [{"text": "Songs"}]},
                    "contents": [song_item(s) for s in songs],
                }
            }
        ]
    tab = {"tabRenderer": {"content": {"sectionListRenderer": {"contents": sections}}}}
    return {"contents": {"tabbedSearchResultsRenderer": {"tabs": [tab]}}}


def video_item(video: Result) -> dict:
    channel = [
        {"text": video.artist, "navigationEndpoint": {"browseEndpoint": {
            "browseId": "UC" + "x" * 22
        }}}
    ]  # fmt: skip
    return {
        "videoRenderer": {
            "videoId": video.video_id,
            "title": {"runs": [{"text": video.title}]},
            "ownerText": {"runs": channel},
            "longBylineText": {"runs": channel},
            "shortBylineText": {"runs": channel},
            "lengthText": {"simpleText": _clock(video.duration_s)},
            "viewCountText": {"simpleText": "1,234,567 views"},
        }
    }


def videos_answer(videos: list[Result]) -> dict:
    section = {"itemSectionRenderer": {"contents": [video_item(v) for v in videos]}}
    return {
        "contents": {
            "twoColumnSearchResultsRenderer": {
                "primaryContents": {"sectionListRenderer": {"contents": [section]}}
            }
        }
    }


HOME_PAGE = (
    b"<!DOCTYPE html><html><head><script>"
    b'ytcfg.set({"VISITOR_DATA": "CgtTdGFuZEluVmlzaXQ%3D", "INNERTUBE_CONTEXT_CLIENT_NAME": 1});'
    b"</script></head><body></body></html>"
)


class YouTubeSearch:
    def __init__(self) -> None:
        self.songs: dict[str, list[Result]] = {}
        self.videos: dict[str, list[Result]] = {}
        self.status_for: dict[str, int] = {}
        self.delay_s = 0.0
        self.searches: list[tuple[str, str]] = []
        self.refused: list[str] = []
        self._ca = trustme.CA()
        self._folder = tempfile.TemporaryDirectory(prefix="youtube-search-")
        self.ca_file = Path(self._folder.name) / "ca.pem"
        self._ca.cert_pem.write_to_path(str(self.ca_file))
        self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ca.issue_cert(*HOSTS).configure_cert(self._tls)
        standin = self

        class Https(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            host = ""

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._send(200, HOME_PAGE, "text/html; charset=utf-8")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self.path.startswith("/youtubei/v1/search"):
                    self._send(404, b'{"error": {"code": 404}}', "application/json")
                    return
                query = _key(str(body.get("query", "")))
                standin.searches.append((self.host, query))
                if standin.delay_s:
                    time.sleep(standin.delay_s)
                status = standin.status_for.get(query)
                if status:
                    error = {"error": {"code": status, "message": "stand-in refusal"}}
                    self._send(status, json.dumps(error).encode(), "application/json")
                    return
                if self.host == "music.youtube.com":
                    answer = songs_answer(standin.songs.get(query, []))
                else:
                    answer = videos_answer(standin.videos.get(query, []))
                self._send(200, json.dumps(answer).encode(), "application/json")

            def _send(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Proxy(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                line = self.rfile.readline(4096).decode("latin-1").split()
                while self.rfile.readline(4096) not in (b"\r\n", b"\n", b""):
                    pass  # the proxy request's headers
                if len(line) < 2 or line[0] != "CONNECT":
                    self.wfile.write(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                    return
                host = line[1].rsplit(":", 1)[0]
                if host not in HOSTS:
                    standin.refused.append(host)
                    self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                    return
                self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                self.wfile.flush()
                try:
                    tls = standin._tls.wrap_socket(self.connection, server_side=True)
                except (ssl.SSLError, OSError):
                    return
                handler = type("HttpsFor", (Https,), {"host": host})
                with contextlib.suppress(ssl.SSLError, OSError):
                    handler(tls, self.client_address, self.server)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Proxy)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def add(
        self,
        query: str,
        *,
        songs: list[Result] = (),
        videos: list[Result] = (),  # type: ignore[assignment]
    ) -> None:
        self.songs[_key(query)] = list(songs)
        self.videos[_key(query)] = list(videos)

    def __enter__(self) -> YouTubeSearch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._folder.cleanup()
