"""Service addresses (Redis, PostgreSQL) fit for logs and messages: passwords hidden."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def redact(url: str) -> str:
    """A Redis or database address fit for a log: the password replaced, in the address
    and in the query (``?password=``)."""
    url = re.sub(r"(?i)([?&](?:password|pass|pwd)=)[^&#]*", r"\1***", url)
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user + ':' if user else ':'}***@{host}"


def exposure(url: str) -> str:
    """How the Redis at ``url`` is open to others on the network ('' if it is not): whoever
    can write to it can fill the queue and forge results (README, Running past one
    machine). A Redis on this host (loopback) is left to the host's own protection."""
    parts = urlsplit(url)
    if parts.scheme == "unix" or parts.hostname in LOOPBACK:
        return ""
    gaps = []
    if not parts.password and "password=" not in parts.query.lower():
        gaps.append("no password (set requirepass or an ACL user, then redis://:PASSWORD@host)")
    if parts.scheme != "rediss":
        gaps.append("no TLS between hosts (rediss://)")
    return "; ".join(gaps)
