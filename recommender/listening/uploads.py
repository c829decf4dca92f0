"""Hearing a member's upload (a file or a voice message): fetched into a temporary folder
while the interaction is open, decoded and embedded by a listening worker like any file,
then deleted with its folder. Nothing of it is kept: not the audio, not what it sounds
like (it may be unreleased work), and it never joins the catalog."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from ..sources.uploads import (
    ACCEPTED_UPLOADS,
    FETCH_TIMEOUT_S,
    Upload,
    UploadRefusedError,
    check_early,
    fetch,
    too_short,
)
from .audio import DecodeError
from .heard import Heard

if TYPE_CHECKING:
    from .listener import Listener


def _clock(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 60}:{s % 60:02d}"


async def hear_upload(listener: Listener, upload: Upload, *, member: int | None) -> Heard:
    settings = listener.settings
    test_cdn = check_early(upload, settings)
    key = "upload:" + hashlib.sha256(upload.url.encode()).hexdigest()[:16]
    hold_s = FETCH_TIMEOUT_S + settings.request_timeout_s
    async with listener.fetching("upload", key, member, hold_s) as folder:
        path = await fetch(upload, folder / "upload", settings.upload_max_bytes, test_cdn)
        try:
            listened = await listener.listen_file(path)
        except DecodeError as exc:
            raise UploadRefusedError(
                f"earshot could not hear {upload.described} as audio: {exc}. "
                f"Accepted: {ACCEPTED_UPLOADS}."
            ) from None
    too_short(upload, listened.duration_s or 0.0)
    heard_from = f"{upload.described} ({_clock(listened.duration_s or 0.0)}), deleted once heard"
    return Heard(listened.frames, "upload", [], upload.title, heard_from=heard_from)
