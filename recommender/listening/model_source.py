"""Where VGGish comes from: a list of TF Hub handles tried in order, or a local folder.

tfhub.dev now redirects to Kaggle Models, and both have answered HTTP 403 without notice
(tensorflow/hub#922, #932), so ``VGGISH_MODEL`` may name several handles of the same
model, tried in order. ``hub.load`` caches an http(s) handle under TFHUB_CACHE_DIR in a
folder named by the SHA-1 of the handle, and trusts any non-empty folder there; one left
half-written fails every later load with "contains neither 'saved_model.pb' nor
'saved_model.pbtxt'" (tensorflow/hub#896), and a truncated or damaged file in it fails
with whatever TensorFlow makes of it. Such a folder is removed and fetched again.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from ..errors import EarshotError

log = logging.getLogger(__name__)

TFHUB_HANDLE = "https://tfhub.dev/google/vggish/1"
KAGGLE_HANDLE = "https://www.kaggle.com/models/google/vggish/TensorFlow2/vggish/1"
DEFAULT_HANDLES = f"{TFHUB_HANDLE},{KAGGLE_HANDLE}"
FETCH_TIMEOUT_S = 60.0  # hub's own download has none: a silent server would hang forever
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")

T = TypeVar("T")


class ModelError(EarshotError):
    pass


def model_handles(setting: str) -> list[str]:
    """``VGGISH_MODEL``: handles or folders separated by commas or white space."""
    return [h for h in re.split(r"[,\s]+", setting.strip()) if h]


def model_id(setting: str) -> str:
    """A stable name for the model, keying the embedding cache.

    The handles of one setting are mirrors of one model, so the first names it (the
    others only answer when it cannot); a local folder adds a hash of its graph.
    """
    handles = model_handles(setting)
    first = handles[0] if handles else setting
    path = Path(first)
    if path.is_dir():
        saved = path / "saved_model.pb"
        digest = hashlib.sha256(saved.read_bytes()).hexdigest()[:12] if saved.exists() else "?"
        return f"local:{path.name}:{digest}"
    return first


def _is_remote(handle: str) -> bool:
    return handle.startswith(("http://", "https://"))


def cache_folder(handle: str) -> Path | None:
    """Where ``hub`` keeps a downloaded handle (None for a local folder)."""
    cache = os.environ.get("TFHUB_CACHE_DIR")
    if not _is_remote(handle) or not cache:
        return None
    return Path(cache) / hashlib.sha1(handle.encode("utf8")).hexdigest()


def _has_saved_model(folder: Path) -> bool:
    return any((folder / name).is_file() for name in SAVED_MODEL_FILES)


def _cached(handle: str) -> Path | None:
    """The cache folder ``hub`` would load ``handle`` from without fetching, if any."""
    folder = cache_folder(handle)
    if folder is None or not folder.is_dir() or not any(folder.iterdir()):
        return None  # hub treats an empty folder as missing and fetches it itself
    return folder


def _discard(folder: Path, handle: str, why: str) -> None:
    log.warning(
        "the cached copy of %s in %s %s; removing it and fetching the model again",
        handle,
        folder,
        why,
    )
    shutil.rmtree(folder, ignore_errors=True)
    Path(f"{folder}.descriptor.txt").unlink(missing_ok=True)


def repair_cache(handle: str) -> bool:
    """Remove a cached copy of ``handle`` that holds no SavedModel; True if one was."""
    folder = _cached(handle)
    if folder is None or _has_saved_model(folder):
        return False
    _discard(folder, handle, "holds no saved_model.pb (a download left half-written)")
    return True


@contextlib.contextmanager
def _fetch_timeout() -> Iterator[None]:
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(FETCH_TIMEOUT_S)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _short(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def first_that_works(setting: str, action: Callable[[str], T]) -> tuple[str, T]:
    """Run ``action`` on each handle in turn until one succeeds: (handle, its result).

    A half-written cache folder is repaired before a handle is tried, and once more if
    the load still finds no SavedModel. When every handle fails, the error names each
    one with its failure and says how to place the model by hand.
    """
    handles = model_handles(setting)
    if not handles:
        raise ModelError("VGGISH_MODEL is empty: name a TF Hub handle or a SavedModel folder")
    failures: list[str] = []
    for handle in handles:
        repair_cache(handle)
        try:
            with _fetch_timeout():
                cached = _cached(handle)
                try:
                    result = action(handle)
                except Exception as exc:
                    # A copy that would not load (truncated or damaged files: hub trusts
                    # any folder that holds saved_model.pb) is fetched once more.
                    if cached is None or _cached(handle) != cached:
                        raise
                    _discard(cached, handle, f"would not load ({_short(exc)})")
                    result = action(handle)
        except Exception as exc:  # hub raises many kinds; each is reported by handle
            log.warning("could not load VGGish from %s: %s", handle, _short(exc))
            failures.append(f"  - {handle}: {_short(exc)}")
            continue
        if handle != handles[0]:
            log.warning("VGGish loaded from %s (the handles before it failed)", handle)
        return handle, result
    raise ModelError(
        "cannot load the VGGish model from any handle in VGGISH_MODEL:\n"
        + "\n".join(failures)
        + "\nTo place it by hand: on a machine that can reach it, download the model from "
        f"{KAGGLE_HANDLE} (Download, TensorFlow 2 SavedModel), unpack the archive into a "
        "folder holding saved_model.pb and variables/, copy that folder here, and set "
        "VGGISH_MODEL to its path."
    )
