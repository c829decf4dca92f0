"""What members said about suggestions, as records: one member's ratings, what the rest of
a server said, and the reaction vocabulary a reply is rated with. A leaf module: the store
fills these records and the ranking reads them, and neither needs the other."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

LIKE_KEYS = tuple(str(n) for n in range(1, 11))  # "like the suggestion at this position"
DISLIKE_KEY = "down"  # "the suggestions I did not like missed"
REACTION_KEYS = (*LIKE_KEYS, DISLIKE_KEY)


def rating_from_reactions(position: int, reactions: set[str]) -> int:
    """A member's rating of the suggestion at ``position``, from their reactions on the
    reply: a number reaction likes that suggestion; a thumbs-down dislikes every
    suggestion the member did not like."""
    if str(position) in reactions:
        return 1
    if DISLIKE_KEY in reactions:
        return -1
    return 0


@dataclass(frozen=True)
class Reply:
    """A reply earshot posted: where, for whom, about which song, and what stood where."""

    message_id: int
    guild_id: int | None
    channel_id: int
    user_id: int
    query_video: str
    items: tuple[tuple[int, str], ...]  # (track id, video id) at positions 1, 2, ...


@dataclass
class MemberRatings:
    """One member's ratings: track id -> +1 or -1, and the videos behind them."""

    values: dict[int, int] = field(default_factory=dict)
    videos: dict[int, str] = field(default_factory=dict)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[int, str, int]]) -> MemberRatings:
        ratings = cls()
        for track, video, value in rows:
            ratings.values[track] = value
            ratings.videos[track] = video
        return ratings

    def liked(self) -> list[int]:
        return [t for t, v in self.values.items() if v > 0]

    def disliked(self) -> list[int]:
        return [t for t, v in self.values.items() if v < 0]

    def disliked_videos(self) -> set[str]:
        return {self.videos[t] for t in self.disliked() if t in self.videos}

    def __len__(self) -> int:
        return len(self.values)


@dataclass
class Community:
    """What other members of the server said about the candidates."""

    likes: dict[int, int] = field(default_factory=dict)  # track -> members who liked it
    dislikes: dict[int, int] = field(default_factory=dict)
    co_likes: dict[int, int] = field(default_factory=dict)  # liked with this member's likes
