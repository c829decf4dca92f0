"""SUGGEST_FROM=songs-first: the server's own songs come first; an AudioSet clip takes a
place only where the songs run short, or where it is clearly the better match: its score
beats a song's by more than ``SONGS_FIRST_MARGIN``.

Scores are the pipeline's (tag block plus sound, after re-ranking), so the margin is in
the tag block's units: about one more likely label shared with the song asked about. A
song's vector holds the tagger's probabilities where a clip's holds AudioSet's labels,
so a clip would otherwise win most ties. The margin is measured by ``scripts/benchmarks``
(songs): songs at least 8 of the top 10 where 10 exist, for a small loss of P@10."""

from __future__ import annotations

from collections.abc import Callable

from .pipeline import Ranked

SONGS_FIRST_MARGIN = 1.0


def songs_first(
    songs: list[Ranked],
    everything: list[Ranked],
    is_song: Callable[[int], bool],
    count: int,
    margin: float = SONGS_FIRST_MARGIN,
) -> list[Ranked]:
    """The best ``count`` of the songs' ranking and the clips of the whole ranking, a
    clip's score counted ``margin`` lower; in that order (stable: songs first on a tie)."""
    clips = [r for r in everything if not is_song(r.hit.track_id)]
    pool = [(r.score, r) for r in songs] + [(r.score - margin, r) for r in clips]
    pool.sort(key=lambda pair: -pair[0])
    return [r for _, r in pool[:count]]
