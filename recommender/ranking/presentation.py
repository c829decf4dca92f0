"""Turning ranked hits and ratings into what people read: label names, reasons, figures."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from ..catalog.store import Track
from ..index.vector_index import VectorIndex
from ..results import Recommendation, TasteProfile
from ..song_facts import Song, search_link
from ..song_keys import split_key
from ..sources.links import watch_url
from ..sources.pages import song_page
from ..video_facts import VideoFacts
from .pipeline import Ranked

TASTE_LABELS = 6  # labels shown per side of a member's taste


# What a label says about music: genre, instrument, mood, or another part of AudioSet's
# Music subtree (music roles such as "Theme music"). "Speech", room acoustics ("Inside,
# small room") and sound effects are not, however often AudioSet gave them to a clip.
MUSICAL_KINDS = frozenset({"genre", "instrument", "mood", "music"})
TOO_GENERAL = frozenset({"Music"})  # true of every clip in the catalog
TELLING_ORDER = {"genre": 0, "instrument": 1, "mood": 2}  # then the rest of Music


class Labels:
    """AudioSet class indices to the names of those that describe music."""

    def __init__(
        self,
        names: Mapping[int, str],
        kinds: Mapping[int, str] | None = None,
        parents: Mapping[int, Sequence[int]] | None = None,
    ) -> None:
        self._names = {
            i: name
            for i, name in names.items()
            if (kinds is None or kinds.get(i) in MUSICAL_KINDS) and name not in TOO_GENERAL
        }
        self._kinds = dict(kinds or {})
        self._parents = dict(parents or {})

    def __call__(self, labels: Iterable[int]) -> list[str]:
        return [self._names[i] for i in labels if i in self._names]

    def telling_first(self, labels: Iterable[int]) -> list[str]:
        """The names to show, most telling first: genres, then instruments, then moods,
        then the rest; a label is left out when a more specific one under it is there
        ("Guitar" under "Acoustic guitar"). Within a kind, later in the ontology first
        (its children follow their parents), which is the more specific where the
        catalog does not know the parents."""
        shown = [i for i in dict.fromkeys(labels) if i in self._names]
        covered: set[int] = set()
        for label in shown:
            covered |= self._ancestors(label)
        kept = sorted(
            (i for i in shown if i not in covered),
            key=lambda i: (TELLING_ORDER.get(self._kinds.get(i, ""), len(TELLING_ORDER)), -i),
        )
        return [self._names[i] for i in kept]

    def _ancestors(self, label: int) -> set[int]:
        found: set[int] = set()
        stack = list(self._parents.get(label, ()))
        while stack:
            parent = stack.pop()
            if parent not in found:
                found.add(parent)
                stack.extend(self._parents.get(parent, ()))
        return found


def recommendation(
    labels: Labels,
    index: VectorIndex,
    query: np.ndarray,
    ranked: Ranked,
    track: Track,
) -> Recommendation:
    """One suggestion as shown: link at the clip's moment, its telling labels, figures,
    and reasons that say what the labels do not (the ratings behind it, a close sound)."""
    hit = ranked.hit
    sound = index.sound_similarity(hit, query)
    reasons = list(ranked.reasons)
    if index.is_close_sound(sound):
        reasons.append("a close match in sound")
    # A song without AudioSet's labels shows what the tagger heard in it instead.
    known = track.labels or tuple(index.heard_tags(hit))
    return Recommendation(
        track.id,
        track.video_id,
        track.start_s,
        song_page(track.video_id, track.start_s),
        labels.telling_first(known),
        round(hit.score, 4),
        round(sound, 4),
        round(max(0.0, index.cosine(hit, query)), 4),
        reasons,
    )


NO_VIDEO_FOUND = "no video found: a YouTube Music search"


def with_song(item: Recommendation, song: Song | None) -> Recommendation:
    """One of the server's songs as members read it: "artist — title" and its album,
    linked to the video found for it, else to a YouTube Music search that says so (a
    library's file is never sent)."""
    if song is None:
        return item
    if song.video_id:
        url, note = watch_url(song.video_id), ""
    elif split_key(song.key)[0] == "song":
        url, note = search_link(song.artist, song.title), NO_VIDEO_FOUND
    else:  # a playlist's song plays on its own page
        url, note = item.url, ""
    return dataclasses.replace(
        item, title=song.shown, channel=song.album, url=url, song=True, link_note=note
    )


def with_facts(item: Recommendation, facts: VideoFacts | None) -> Recommendation:
    """A suggestion with its video's title and channel, if YouTube told them."""
    if facts is None or not facts.playable:
        return item
    return dataclasses.replace(item, title=facts.title, channel=facts.channel, live=True)


def taste_profile(
    labels: Labels, rows: Sequence[tuple[int, str, int]], tracks: Mapping[int, Track]
) -> TasteProfile:
    """Counts, and the labels a member leans toward and away from: a label counts once
    per rated suggestion, and goes on the side where it was rated more often (a label
    liked as often as skipped says nothing, and appears on neither side)."""
    lean: dict[str, int] = {}
    for track_id, _, value in rows:
        track = tracks.get(track_id)
        for name in set(labels(track.labels if track else ())):
            lean[name] = lean.get(name, 0) + (1 if value > 0 else -1)
    liked = sum(1 for _, _, v in rows if v > 0)
    ordered = sorted(lean.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
    likes = [name for name, n in ordered if n > 0][:TASTE_LABELS]
    skips = [name for name, n in ordered if n < 0][:TASTE_LABELS]
    return TasteProfile(liked, len(rows) - liked, likes, skips)
