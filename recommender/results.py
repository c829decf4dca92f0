"""What the engine answers with: typed results at the boundary, for the cogs and the CLI."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .song_keys import is_youtube

Progress = Callable[[str, int, int], None]  # (stage, done, total), for bars and replies


def no_progress(stage: str, done: int, total: int) -> None:
    """A Progress that reports nowhere."""


@dataclass(frozen=True)
class IndexInfo:
    """A build's own description (meta.json), typed."""

    count: int
    built_at: float
    vector_version: str
    trees: int
    chunks: int = 0
    shared_groups: int = 0
    annoy_groups: int = 0
    clustered_rows: int = 0
    total_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)  # timings and the rest

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> IndexInfo:
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        return cls(
            **{k: meta[k] for k in known if k in meta},
            extra={k: v for k, v in meta.items() if k not in known and k != "files"},
        )


@dataclass(frozen=True)
class IngestReport:
    files: int
    files_skipped: int
    clips_added: int
    non_music: int
    problems: dict[str, list[str]]


@dataclass(frozen=True)
class Recommendation:
    track_id: int
    video_id: str
    start_s: float
    url: str
    labels: list[str]
    score: float
    sound_similarity: float
    match: float  # cosine of query and item vectors, 0..1: how close, for people
    reasons: list[str] = field(default_factory=list)  # why it is here, in a few words
    title: str = ""  # the video's title and channel, where YouTube told them in time
    channel: str = ""
    live: bool = False  # YouTube said it plays (checked within VIDEO_FACTS_TTL_DAYS)
    song: bool = False  # one of the server's songs: title is "artist — title", channel its album
    link_note: str = ""  # what the link is when it is not the song itself (a search)


@dataclass(frozen=True)
class Query:
    video_id: str
    url: str
    source: str  # "catalog", "cache", "download" or "file"
    labels: list[str] = field(default_factory=list)  # known labels, if a catalog clip
    tags: list[str] = field(default_factory=list)  # what the tagger hears
    title: str = ""
    channel: str = ""
    heard_from: str = ""  # where not YouTube: "Deezer preview, 30 s"
    searched: bool = False  # found by a search, so perhaps not the song the member meant
    described: str = ""  # /discover: what was looked for ("Sad music + Piano")


MAX_SUGGESTIONS = 20  # per request, as every surface says: /recommend, /discover, the CLI
PLAY_ALL_URL = "https://www.youtube.com/watch_videos?video_ids="
PLAY_ALL_MAX = 50  # YouTube's untitled playlists take at most 50 videos


@dataclass(frozen=True)
class RecommendResult:
    query: Query
    items: list[Recommendation]
    shortfall: str = ""  # why there are fewer items than asked for ('' when there are not)

    @property
    def play_all(self) -> list[str]:
        """The YouTube suggestions known to play, once each (at most 50)."""
        videos = (i.video_id for i in self.items if i.live and is_youtube(i.video_id))
        return list(dict.fromkeys(videos))[:PLAY_ALL_MAX]

    @property
    def play_all_url(self) -> str | None:
        """One link that opens every YouTube suggestion known to play as one YouTube queue
        (no account needed); None when fewer than two are."""
        videos = self.play_all
        return PLAY_ALL_URL + ",".join(videos) if len(videos) >= 2 else None


@dataclass(frozen=True)
class TasteProfile:
    liked: int
    disliked: int
    top_tags: list[str]
    avoided_tags: list[str]


@dataclass(frozen=True)
class Stats:
    tracks: int
    member_tracks: int  # songs members asked about (join the index at reindex)
    indexed: int
    cached_embeddings: int
    ratings: int
    ingest: dict[str, int]
    index: IndexInfo | None
    schema_version: int
    pending_writes: int = 0
    videos: dict[str, int] = field(default_factory=dict)  # live, restricted, gone, unchecked
    songs: dict[str, int] = field(default_factory=dict)  # the server's songs, by source
    songs_without_video: int = 0  # library songs with no video found to link to

    @property
    def song_count(self) -> int:
        return sum(self.songs.values())

    @property
    def catalog_clips(self) -> int:
        """AudioSet clips, without members' songs or the server's."""
        return self.tracks - self.member_tracks - self.song_count

    @property
    def catalog_in_words(self) -> str:
        """The catalog by kind, for the stats, /stats and the doctor: "120 songs (100 from
        folders, 20 from Subsonic; 30 with no video to link to), 8,836 AudioSet clips,
        12 members' songs"."""
        parts = []
        if self.songs:
            sources = ", ".join(
                f"{n:,} from {SONG_SOURCE_NAMES.get(source, source)}"
                for source, n in sorted(self.songs.items(), key=lambda kv: -kv[1])
            )
            unlinked = (
                f"; {self.songs_without_video:,} with no video to link to"
                if self.songs_without_video
                else ""
            )
            parts.append(f"{self.song_count:,} songs ({sources}{unlinked})")
        parts.append(f"{self.catalog_clips:,} AudioSet clips")
        parts.append(f"{self.member_tracks:,} members' songs")
        return ", ".join(parts)


SONG_SOURCE_NAMES = {  # where the server's songs came from, as the catalog's figures say
    "folder": "folders",
    "subsonic": "Subsonic",
    "youtube": "YouTube playlists",
    "soundcloud": "SoundCloud sets",
    "bandcamp": "Bandcamp albums",
}
