"""What YouTube last said of a video: does it still play, and under which title and channel.
A leaf module of records, filled from oEmbed (``oembed``) or from yt-dlp for members' songs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    LIVE = "live"
    RESTRICTED = "restricted"  # 401: embedding off, or private
    GONE = "gone"  # 404/400: removed or never existed


DEAD = frozenset({Status.RESTRICTED, Status.GONE})


@dataclass(frozen=True)
class VideoFacts:
    video_id: str
    status: Status
    title: str = ""
    channel: str = ""
    checked_at: float = 0.0

    @property
    def playable(self) -> bool:
        return self.status == Status.LIVE
