"""A stand-in for YouTube's oEmbed endpoint on 127.0.0.1 (``EARSHOT_TEST_OEMBED_BASE``).

Every video plays, titled "Song <id>" by "Channel <first 3 characters>", unless told
otherwise: ``status_for[video_id] = 401 | 404 | 429 | 500`` answers with that status,
``slow_for[video_id] = seconds`` (or ``delay_s`` for all) answers late.
"""

from __future__ import annotations

import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def title_of(video_id: str) -> str:
    return f"Song {video_id}"


def channel_of(video_id: str) -> str:
    return f"Channel {video_id[:3]}"


class OEmbedServer:
    def __init__(self) -> None:
        self.status_for: dict[str, int] = {}
        self.slow_for: dict[str, float] = {}
        self.delay_s = 0.0
        self.default_status = 200  # for every video not in status_for
        self.delay_range = (0.0, 0.0)  # a random delay in this range, in seconds, if set
        self.requests: list[str] = []  # video ids asked about, in order
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                url = (query.get("url") or [""])[0]
                video = (parse_qs(urlsplit(url).query).get("v") or [""])[0]
                with server.lock:
                    server.requests.append(video)
                low, high = server.delay_range
                wait = server.slow_for.get(video, server.delay_s) or random.uniform(low, high)
                if wait:
                    time.sleep(wait)
                status = server.status_for.get(video, server.default_status)
                if parts.path != "/oembed" or query.get("format") != ["json"] or not video:
                    status = 400
                if status != 200:
                    body = {401: b"Unauthorized", 404: b"Not Found"}.get(status, b"Error")
                    self.send_response(status)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                payload = json.dumps(
                    {
                        "title": title_of(video),
                        "author_name": channel_of(video),
                        "author_url": f"https://www.youtube.com/@{video[:3]}",
                        "type": "video",
                        "provider_name": "YouTube",
                        "thumbnail_url": f"https://i.ytimg.com/vi/{video}/hqdefault.jpg",
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/oembed"

    def asked(self, video_id: str) -> int:
        with self.lock:
            return self.requests.count(video_id)

    def __enter__(self) -> OEmbedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
