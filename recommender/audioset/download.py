"""Resumable HTTP downloads with integrity checks, and the official AudioSet release.

A download streams into ``<dest>.part``; a rerun continues it with an HTTP Range request
(or starts over if the server ignores the range), and the file takes its final name only
once its size and checksum are right.
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import logging
import os
import re
import socket
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from ..errors import EarshotError
from .ontology import CLASS_LABELS_FILE, EMBEDDINGS_DIR, ONTOLOGY_FILE, SPLITS

log = logging.getLogger(__name__)

FEATURES_URL = (
    "https://storage.googleapis.com/us_audioset/youtube_corpus/v1/features/features.tar.gz"
)
# Cited for the official tarball in public code; AUDIOSET_FEATURES_SHA256 overrides it.
FEATURES_SHA256 = "cd95d500ab2422d4233cb822e25cf73033633e2068eab64d39024e85125cb760"
CLASS_LABELS_URL = (
    "https://storage.googleapis.com/us_audioset/youtube_corpus/v1/csv/class_labels_indices.csv"
)
ONTOLOGY_URL = "https://raw.githubusercontent.com/audioset/ontology/master/ontology.json"
CHUNK = 1 << 20

ByteProgress = Callable[[int, int | None], None]


class DownloadError(EarshotError):
    pass


def _inside(host: str | None) -> bool:
    """Whether ``host`` is this machine or its private network (or cannot be told)."""
    if not host:
        return True
    try:
        addresses = {ipaddress.ip_address(host.strip("[]"))}
    except ValueError:
        try:
            found = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except OSError:
            return False  # the request itself will fail and say so
        addresses = {ipaddress.ip_address(info[4][0].split("%")[0]) for info in found}
    return any(
        a.is_private or a.is_loopback or a.is_link_local or a.is_reserved or a.is_unspecified
        for a in addresses
    )


def redirect_refusal(old_url: str, new_url: str) -> str:
    """Why a download must not follow a redirect from ``old_url`` to ``new_url`` ('' when
    it may): never from https down to http, never off the web, and never from the
    internet into this machine or its network (a cloud's metadata address, say)."""
    old, new = urlsplit(old_url), urlsplit(new_url)
    if new.scheme not in ("http", "https"):
        return f"to a {new.scheme or 'relative'} address, which is not the web"
    if old.scheme == "https" and new.scheme != "https":
        return "from https down to plain http"
    if _inside(new.hostname) and not _inside(old.hostname):
        return f"from the internet into this machine's own network ({new.hostname})"
    return ""


class _CarefulRedirects(urllib.request.HTTPRedirectHandler):
    max_redirections = 5

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        newurl = urljoin(req.full_url, newurl)
        refusal = redirect_refusal(req.full_url, newurl)
        if refusal:
            raise DownloadError(f"{req.full_url} redirected {refusal}: {newurl}; not followed")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_opener = urllib.request.build_opener(_CarefulRedirects)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def fetch(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    progress: ByteProgress | None = None,
    timeout_s: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest`` (resuming a ``.part`` file), verify, and rename."""
    if dest.exists() and (not sha256 or _sha256(dest) == sha256):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "earshot"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = _opener.open(request, timeout=timeout_s)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the part file is already complete
            response = None
        else:
            raise DownloadError(f"{url} answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise DownloadError(f"cannot reach {url}: {exc}") from None

    if response is not None:
        with response:
            total = _expected_total(response, have)
            mode = "ab" if response.status == 206 else "wb"
            if mode == "wb" and have:
                log.info("%s ignored the range request; starting over", url)
                have = 0
            done = have
            with open(part, mode) as out:
                try:
                    while block := response.read(CHUNK):
                        out.write(block)
                        done += len(block)
                        if progress:
                            progress(done, total)
                except (http.client.HTTPException, OSError) as exc:
                    raise DownloadError(
                        f"{url} was interrupted after {done} bytes ({exc.__class__.__name__}); "
                        "run the command again to resume"
                    ) from None
                finally:
                    out.flush()
                    os.fsync(out.fileno())
            if total is not None and done != total:
                raise DownloadError(
                    f"{url} was interrupted after {done} of {total} bytes; "
                    "run the command again to resume"
                )
    if sha256:
        actual = _sha256(part)
        if actual != sha256:
            part.unlink()
            raise DownloadError(
                f"{dest.name} is corrupt (sha256 {actual}, expected {sha256}); it was deleted, "
                "run the command again"
            )
    os.replace(part, dest)
    return dest


def _expected_total(response, have: int) -> int | None:
    if response.status == 206:
        match = re.search(r"/(\d+)$", response.headers.get("Content-Range", ""))
        if match:
            return int(match.group(1))
    length = response.headers.get("Content-Length")
    if length is None:
        return None
    return int(length) + (have if response.status == 206 else 0)


def extract_features(
    tarball: Path,
    dest: Path,
    splits: tuple[str, ...] = SPLITS,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Extract only the .tfrecord files of ``splits``; returns how many were written."""
    wanted = tuple(f"{EMBEDDINGS_DIR}/{split}/" for split in splits)
    written = 0
    try:
        with tarfile.open(tarball, "r:*") as archive:
            for member in archive:
                name = member.name.lstrip("./")
                if not (member.isfile() and name.endswith(".tfrecord") and name.startswith(wanted)):
                    continue
                target = dest / name
                if target.exists() and target.stat().st_size == member.size:
                    continue
                member.name = name
                archive.extract(member, dest, filter="data")
                written += 1
                if progress:
                    progress(written)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DownloadError(f"{tarball} cannot be extracted: {exc}") from None
    return written


def download_release(
    dest: Path,
    *,
    features_url: str = FEATURES_URL,
    features_sha256: str | None = FEATURES_SHA256,
    class_labels_url: str = CLASS_LABELS_URL,
    ontology_url: str = ONTOLOGY_URL,
    splits: tuple[str, ...] = SPLITS,
    keep_tarball: bool = False,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> Path:
    """Fetch the official release into ``dest`` and return the folder to ingest."""

    def stage(name: str) -> ByteProgress:
        return lambda done, total: progress(name, done, total) if progress else None

    fetch(class_labels_url, dest / CLASS_LABELS_FILE, progress=stage(CLASS_LABELS_FILE))
    fetch(ontology_url, dest / ONTOLOGY_FILE, progress=stage(ONTOLOGY_FILE))
    tarball = dest / "features.tar.gz"
    marker = dest / EMBEDDINGS_DIR / ".complete"
    if not marker.exists():
        fetch(features_url, tarball, sha256=features_sha256 or None, progress=stage("features"))
        extract_features(tarball, dest, splits, lambda n: stage("extract")(n, None))
        marker.write_text(",".join(splits) + "\n")
        if not keep_tarball:
            tarball.unlink()
    return dest
