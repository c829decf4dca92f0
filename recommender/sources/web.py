"""Fetching from a music service's own public endpoints (Deezer's API, the iTunes lookup,
their preview files): only to the exact hosts each source names, following redirects
only within them, bounded in bytes and time, and never into this machine or its private
network (addresses are checked as resolved, so a name cannot point there either). The
tests' switch (EARSHOT_TEST_ALLOW_LOOPBACK) lets stand-ins on 127.0.0.1 answer."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import socket
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from ..errors import EarshotError

log = logging.getLogger(__name__)

MAX_REDIRECTS = 3
JSON_LIMIT = 1 << 20
CHUNK = 1 << 16


class SourceUnavailableError(EarshotError):
    """A music service could not be asked, or would not answer; the message says so."""


class NotThereError(SourceUnavailableError):
    """The service answered 404 or 410: no such thing there."""


class ForbiddenAddressError(OSError):
    pass


@dataclass(frozen=True)
class Hosts:
    """Where one source may be fetched from: exact names, and name suffixes for CDNs."""

    names: frozenset[str]
    suffixes: tuple[str, ...] = ()
    extra: frozenset[str] = field(default_factory=frozenset)  # a test stand-in's host

    def allow(self, host: str) -> bool:
        host = host.rstrip(".").lower()
        return host in self.names or host in self.extra or host.endswith(self.suffixes)

    def with_test_host(self, base: str | None) -> Hosts:
        host = urlsplit(base).hostname if base else None
        return Hosts(self.names, self.suffixes, self.extra | {host}) if host else self


def _private(address: str) -> bool:
    """Anything but a global unicast address: private, loopback, link-local, CGNAT,
    multicast, reserved, or an IPv6 form that wraps one of these (6to4)."""
    a = ipaddress.ip_address(address.split("%")[0])
    if isinstance(a, ipaddress.IPv6Address) and a.sixtofour is not None:
        a = a.sixtofour
    return not a.is_global or a.is_multicast


class PublicResolver(AbstractResolver):
    """Resolves names as usual, and drops every private or loopback address."""

    def __init__(self) -> None:
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        public = [r for r in found if not _private(r["host"])]
        if not public:
            raise ForbiddenAddressError(f"{host} resolves only to private addresses")
        return public

    async def close(self) -> None:
        await self._inner.close()


class WebClient:
    """One aiohttp session for a source's requests; use ``async with``."""

    def __init__(self, service: str, *, allow_loopback: bool = False, timeout_s: float = 10.0):
        self.service = service  # for messages: "Deezer", "Apple Music"
        self.allow_loopback = allow_loopback
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> WebClient:
        connector = aiohttp.TCPConnector(resolver=None if self.allow_loopback else PublicResolver())
        # Answers are asked for uncompressed, and one that comes compressed anyway is
        # inflated here within the byte cap: aiohttp's own inflating would turn a 300 kB
        # body of zeros into hundreds of MB before any cap saw it.
        self._session = aiohttp.ClientSession(
            timeout=self.timeout,
            connector=connector,
            headers={
                "User-Agent": "earshot (a self-hosted Discord bot)",
                "Accept-Encoding": "identity",
            },
            auto_decompress=False,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def json(self, url: str, hosts: Hosts) -> Any:
        try:
            return json.loads(await self.read(url, hosts, JSON_LIMIT))
        except (ValueError, RecursionError):  # RecursionError: nested deeper than Python reads
            raise self._refused("answered with something that is not JSON it reads") from None

    async def text(self, url: str, hosts: Hosts, max_bytes: int = 4 * JSON_LIMIT) -> str:
        return (await self.read(url, hosts, max_bytes)).decode("utf-8", errors="replace")

    async def download(self, url: str, hosts: Hosts, dest: Path, max_bytes: int) -> Path:
        body = await self.read(url, hosts, max_bytes)  # bounded: held whole, then written
        await asyncio.to_thread(dest.write_bytes, body)
        return dest

    async def read(self, url: str, hosts: Hosts, max_bytes: int) -> bytes:
        body = bytearray()
        async for block in self._stream(url, hosts, max_bytes):
            body += block
        return bytes(body)

    async def _stream(self, url: str, hosts: Hosts, max_bytes: int):  # type: ignore[no-untyped-def]
        assert self._session is not None, "use WebClient in 'async with'"
        try:
            for _ in range(MAX_REDIRECTS + 1):
                self._check(url, hosts)
                async with self._session.get(url, allow_redirects=False) as response:
                    if response.status in (301, 302, 303, 307, 308):
                        url = urljoin(url, response.headers.get("Location", ""))
                        continue
                    if response.status == 429:
                        raise self._unavailable("is asking earshot to slow down")
                    if response.status in (404, 410):
                        raise NotThereError(f"{self.service} has no such page ({url}).")
                    if response.status >= 400:
                        raise self._unavailable(f"answered {response.status}")
                    if (response.content_length or 0) > max_bytes:
                        raise self._refused("sent more than earshot takes")
                    inflate = self._inflater(response.headers.get("Content-Encoding", ""))
                    got = 0
                    async for block in response.content.iter_chunked(CHUNK):
                        for part in inflate(block):
                            got += len(part)
                            if got > max_bytes:
                                raise self._refused("sent more than earshot takes")
                            yield part
                    return
            raise self._refused("redirected too many times")
        except ForbiddenAddressError as exc:
            raise self._forbidden(url, exc) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            cause = exc.__cause__ or exc.__context__  # aiohttp wraps the resolver's error
            if isinstance(cause, ForbiddenAddressError):
                raise self._forbidden(url, cause) from None
            log.info("%s: %s", url, exc)
            raise self._unavailable("did not answer in time") from None

    def _inflater(self, encoding: str):  # type: ignore[no-untyped-def]
        """Bytes as sent to bytes as meant, never more than CHUNK at a time from one call:
        a compressed answer is inflated step by step, so the cap sees every step."""
        encoding = encoding.strip().lower()
        if encoding in ("", "identity"):
            return lambda block: (block,)
        if encoding not in ("gzip", "x-gzip", "deflate"):
            raise self._refused(f"sent a {encoding[:20]}-compressed answer earshot cannot read")
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # a gzip or zlib header

        def inflate(block: bytes):  # type: ignore[no-untyped-def]
            try:
                while block:
                    part = inflater.decompress(block, CHUNK)
                    block = inflater.unconsumed_tail
                    if part:
                        yield part
            except zlib.error:
                raise self._refused("sent a compressed answer that does not inflate") from None

        return inflate

    def _forbidden(self, url: str, exc: ForbiddenAddressError) -> SourceUnavailableError:
        log.warning("refused to fetch %s: %s", url, exc)
        return self._refused("pointed earshot at a private address")

    def _check(self, url: str, hosts: Hosts) -> None:
        parts = urlsplit(url)
        test_host = parts.hostname in hosts.extra and self.allow_loopback
        if not parts.hostname or not hosts.allow(parts.hostname):
            log.warning("refused to fetch %s: not a host of %s", url, self.service)
            raise self._refused("sent a link to a host that is not its own")
        if parts.scheme != "https" and not (test_host and parts.scheme == "http"):
            raise self._refused("sent a link that is not https")
        if parts.username or parts.password or (parts.port not in (None, 443) and not test_host):
            raise self._refused("sent a link earshot does not follow")

    def _unavailable(self, what: str) -> SourceUnavailableError:
        """A passing trouble (slow, busy, down): asking again later can help."""
        return SourceUnavailableError(f"{self.service} {what}; try again in a minute.")

    def _refused(self, what: str) -> SourceUnavailableError:
        """What the service sent is not something earshot takes: asking again gives the
        same, so the member is pointed at another way to name the song."""
        return SourceUnavailableError(
            f"{self.service} {what}, so earshot cannot hear the song from there. "
            "Name it another way: its YouTube link, or its artist and title."
        )
