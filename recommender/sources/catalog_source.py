"""What an owner named as a source of songs for ``add``: a folder on this machine, a
Subsonic server's address, or a music site's playlist or album link. Decided without the
network."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

SourceKind = Literal["folder", "subsonic", "site"]

# Music sites whose lists are links, not Subsonic servers (the host or a parent of it).
MUSIC_SITES = (
    "youtube.com", "youtu.be", "soundcloud.com", "bandcamp.com", "spotify.com",
    "deezer.com", "deezer.page.link", "apple.com",
)  # fmt: skip

ACCEPTED = "a folder of audio files, or a Subsonic server's address (https://music.example.com)"


def source_kind(text: str) -> SourceKind:
    if "://" not in text:
        return "folder"
    host = (urlsplit(text.strip()).hostname or "").rstrip(".").lower()
    if any(host == site or host.endswith("." + site) for site in MUSIC_SITES):
        return "site"
    return "subsonic"
