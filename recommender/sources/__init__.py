"""Where a song comes from: links parsed without the network, YouTube through yt-dlp (and
why it refuses), and oEmbed for titles. The one place a new source is added (ARCHITECTURE.md
says what it must provide). Importing this face loads only the link parser."""

from .links import ACCEPTED_FORMS, LinkError, SongId, VideoLink, parse_link, watch_url

__all__ = ["ACCEPTED_FORMS", "LinkError", "SongId", "VideoLink", "parse_link", "watch_url"]
