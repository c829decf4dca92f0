"""A real HTTP server on 127.0.0.1 that serves files with byte-range support.

Used by the download tests (resumable fetch of a tarball) and the audio tests (yt-dlp's
generic extractor reading audio files). ``cut_after[name] = n`` makes the next full-file
response for that file stop after n bytes, to test resuming; ``status_for[name] = code``
answers every request for that name with that HTTP error (403 from a model hub, say);
``redirect_for[name] = url`` sends a 302 there. With ``tls``, it serves https://.
"""

from __future__ import annotations

import re
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_TYPES = {
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".m4a": "audio/mp4",
    ".flac": "audio/flac",
    ".webm": "audio/webm",
    ".gz": "application/gzip",
    ".csv": "text/csv",
    ".json": "application/json",
    ".html": "text/html",
    ".whl": "application/zip",
    ".npz": "application/octet-stream",
}


class RangeServer:
    def __init__(self, root: Path, tls: ssl.SSLContext | None = None) -> None:
        """``tls``: a server-side context to answer https:// with instead of http://."""
        self.root = root
        self.tls = tls
        self.cut_after: dict[str, int] = {}
        self.status_for: dict[str, int] = {}
        self.redirect_for: dict[str, str] = {}  # name -> where a 302 sends the client
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.ignore_range = False
        self.stall_s = 0.0  # wait this long before answering (a hanging server)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                self._serve(body=False)

            def do_GET(self) -> None:
                self._serve(body=True)

            def _serve(self, body: bool) -> None:
                header = self.headers.get("Range")
                server.requests.append((self.path, header))
                if server.stall_s:
                    time.sleep(server.stall_s)
                elsewhere = server.redirect_for.get(self.path.split("?")[0].lstrip("/"))
                if elsewhere:
                    self.send_response(302)
                    self.send_header("Location", elsewhere)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                refused = server.status_for.get(self.path.split("?")[0].lstrip("/"))
                if refused:
                    self.send_error(refused)
                    return
                path = (server.root / self.path.split("?")[0].lstrip("/")).resolve()
                if not path.exists():  # /<video id> -> the file named <video id>.<ext>
                    path = next(iter(sorted(path.parent.glob(path.name + ".*"))), path)
                if server.root.resolve() not in path.parents or not path.is_file():
                    self.send_error(404)
                    return
                data = path.read_bytes()
                size = len(data)
                start, end = 0, size - 1
                status = 200
                match = re.fullmatch(r"bytes=(\d*)-(\d*)", header or "")
                if match and not server.ignore_range:
                    if match.group(1):
                        start = int(match.group(1))
                        end = int(match.group(2)) if match.group(2) else size - 1
                    else:
                        start = max(size - int(match.group(2)), 0)
                    end = min(end, size - 1)
                    if start >= size:
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{size}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    status = 206
                chunk = data[start : end + 1]
                self.send_response(status)
                self.send_header(
                    "Content-Type", _TYPES.get(path.suffix, "application/octet-stream")
                )
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(len(chunk)))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
                self.end_headers()
                if not body:
                    return
                cut = server.cut_after.pop(path.name, None) if status == 200 else None
                try:
                    if cut is not None:
                        self.wfile.write(chunk[:cut])
                        self.wfile.flush()
                        self.close_connection = True
                        return
                    self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client had read enough (ffmpeg does)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}/{name}"

    def __enter__(self) -> RangeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
