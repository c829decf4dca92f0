"""A music service's answer as an attacker would shape it, through the real client against
a real server on 127.0.0.1: compressed bombs, JSON nested past Python's reach, encodings
nobody asked for. Each is a clear refusal within the byte cap, never a crash or gigabytes."""

from __future__ import annotations

import gzip
import threading
import tracemalloc
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from recommender.sources.spotify import _entity
from recommender.sources.web import JSON_LIMIT, Hosts, SourceUnavailableError, WebClient

ZEROS = 300 * 1024 * 1024  # inflates to 300 MB; sent as about 300 kB of gzip
DEEP = 200_000  # JSON nested this deep: 400 kB, under the cap


class Hostile:
    """Answers by path: (status, headers, body)."""

    def __init__(self) -> None:
        self.answers: dict[str, tuple[dict[str, str], bytes]] = {}
        self.encodings: list[str | None] = []
        hostile = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                hostile.encodings.append(self.headers.get("Accept-Encoding"))
                headers, body = hostile.answers[self.path]
                self.send_response(200)
                for name, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    @property
    def hosts(self) -> Hosts:
        return Hosts(frozenset(), extra=frozenset({"127.0.0.1"}))


@pytest.fixture(scope="module")
def hostile() -> Iterator[Hostile]:
    server = Hostile()
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip, streamed: no 300 MB in memory
    block = bytes(1 << 20)
    bomb = b"".join(packer.compress(block) for _ in range(ZEROS >> 20)) + packer.flush()
    server.answers["/bomb"] = ({"Content-Encoding": "gzip"}, bomb)
    server.answers["/small.gz"] = ({"Content-Encoding": "gzip"}, gzip.compress(b'{"ok": 1}'))
    server.answers["/deep"] = ({}, b"[" * DEEP + b"]" * DEEP)
    server.answers["/br"] = ({"Content-Encoding": "br"}, b"\x0b\x02\x80{}\x03")
    server.answers["/broken.gz"] = ({"Content-Encoding": "gzip"}, b"\x1f\x8b not gzip at all")
    try:
        yield server
    finally:
        server.server.shutdown()


async def test_a_compressed_bomb_is_cut_at_the_cap_without_inflating_it(hostile: Hostile):
    assert len(hostile.answers["/bomb"][1]) < 1_000_000
    tracemalloc.start()
    try:
        async with WebClient("Deezer", allow_loopback=True) as client:
            with pytest.raises(SourceUnavailableError, match="sent more than earshot takes"):
                await client.read(hostile.url("/bomb"), hostile.hosts, 4 * JSON_LIMIT)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 * 1024 * 1024, peak  # the cap is 4 MB; inflating whole took 300 MB
    assert hostile.encodings[-1] == "identity"  # it asked for none


async def test_a_small_compressed_answer_still_reads(hostile: Hostile) -> None:
    async with WebClient("Deezer", allow_loopback=True) as client:
        assert await client.json(hostile.url("/small.gz"), hostile.hosts) == {"ok": 1}


async def test_json_nested_past_pythons_reach_is_a_refusal(hostile: Hostile) -> None:
    async with WebClient("Deezer", allow_loopback=True) as client:
        with pytest.raises(SourceUnavailableError, match="not JSON it reads") as refused:
            await client.json(hostile.url("/deep"), hostile.hosts)
    assert "try again in a minute" not in str(refused.value)  # asking again gives the same
    assert "its YouTube link, or its artist and title" in str(refused.value)
    page = (
        '<script id="__NEXT_DATA__" type="application/json">'
        + "[" * DEEP
        + "]" * DEEP
        + "</script>"
    )
    assert _entity(page) is None  # Spotify's embed page: no track in it, not a crash


async def test_an_encoding_nobody_asked_for_is_refused(hostile: Hostile) -> None:
    async with WebClient("Apple Music", allow_loopback=True) as client:
        with pytest.raises(SourceUnavailableError, match="br-compressed answer earshot cannot"):
            await client.read(hostile.url("/br"), hostile.hosts, JSON_LIMIT)
        with pytest.raises(SourceUnavailableError, match="does not inflate"):
            await client.read(hostile.url("/broken.gz"), hostile.hosts, JSON_LIMIT)


async def test_a_host_that_is_not_the_services_is_no_try_again(hostile: Hostile) -> None:
    async with WebClient("Deezer", allow_loopback=True) as client:
        with pytest.raises(SourceUnavailableError) as refused:
            await client.read("https://evil.example.net/x", hostile.hosts, JSON_LIMIT)
    said = str(refused.value)
    assert said.startswith("Deezer sent a link to a host that is not its own, so earshot")
    assert "try again in a minute" not in said
