"""The songs-first protocol: how SUGGEST_FROM=songs-first trades P@10 for the server's
own songs.

A random share of the held-out catalog is marked as the server's songs. A song's vector
is built as a real song's is, from its frames alone (the tagger's probabilities, never
AudioSet's labels); the other clips keep their labels. Each query (a clip with a specific
label, leave-one-out) is answered through the serving pipeline twice: ``everything`` (one
ranking) and ``songs-first`` at each margin (``ranking.songs_first``). Reported per
margin: P@10, the share of songs in the top 10, and, over the queries for which 10 songs
are within the margin of the best clip, the share whose top 10 holds at least 8 songs.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..audioset.tfrecord import ClipRecord
from ..index.layout import Hit
from ..index.vector_index import IndexWriter, VectorIndex
from ..index.vectors import VectorSpace
from ..ranking.pipeline import Candidates, Ranked, SearchSettings, suggest
from ..ranking.songs_first import SONGS_FIRST_MARGIN, songs_first
from ..ratings import MemberRatings

K = 10
MARGINS = (0.0, 0.5, SONGS_FIRST_MARGIN, 2.0, float("inf"))
MOSTLY_SONGS = 8  # of the top 10: the target where 10 songs are within the margin


def songs_first_protocol(
    catalog: Sequence[ClipRecord],
    space: VectorSpace,
    specific: np.ndarray,
    queries: np.ndarray,
    *,
    share: float = 0.2,
    seed: int = 0,
    trees: int = 10,
    search: SearchSettings | None = None,
    margins: Sequence[float] = MARGINS,
    heard: bool = True,
    progress: Callable[[str], None] = lambda _: None,
) -> dict:
    """``heard``: the songs' vectors from their frames alone, as a real song's (False: they
    keep their labels, which measures what the preference alone costs)."""
    search = search or SearchSettings()
    rng = np.random.default_rng(seed)
    is_song = rng.random(len(catalog)) < share
    songs = frozenset(int(i) for i in np.flatnonzero(is_song))
    frames = [c.frames for c in catalog]
    items = space.item_vectors(frames, [() if heard and is_song[i] else c.labels for i, c in
                                        enumerate(catalog)])  # fmt: skip
    videos = {i: c.video_id for i, c in enumerate(catalog)}

    def describe(hits: Sequence[Hit]) -> Candidates:
        return Candidates(videos)

    progress(f"songs first: {len(songs)} of {len(catalog)} clips marked as songs")
    picks: dict[str, list[list[int]]] = {"everything": []} | {_name(m): [] for m in margins}
    within: dict[str, list[bool]] = {_name(m): [] for m in margins}
    with tempfile.TemporaryDirectory(prefix="earshot-eval-songs-") as tmp:
        writer = IndexWriter(Path(tmp), len(catalog), space.dim, trees)
        writer.add(np.arange(len(catalog), dtype=np.int64), items)
        writer.build()
        writer.commit(space.tagger, space, {})
        index = VectorIndex.open_current(Path(tmp))
        assert index is not None
        try:
            for q in queries:
                vector = space.query_vector(catalog[q].frames)

                def ranking(
                    accept: Callable[[int], bool], q: int = int(q), vector: np.ndarray = vector
                ) -> list[Ranked]:
                    return suggest(
                        index, vector, MemberRatings(), describe, count=K,
                        exclude_video=videos[q], search=search,
                        accept=lambda t: t != q and accept(t),
                    )  # fmt: skip

                everything = ranking(lambda _: True)
                own = ranking(songs.__contains__)
                picks["everything"].append([r.hit.track_id for r in everything])
                best_clip = max(
                    (r.score for r in everything if r.hit.track_id not in songs), default=None
                )
                for margin in margins:
                    chosen = songs_first(own, everything, songs.__contains__, K, margin)
                    picks[_name(margin)].append([r.hit.track_id for r in chosen])
                    close = len(own) == K and (
                        best_clip is None or own[-1].score >= best_clip - margin
                    )
                    within[_name(margin)].append(close)
        finally:
            index.close()
    # The best any ranking of the songs alone could do: a query's songs that share a label
    # with it, up to 10. A fifth of the catalog holds a fifth of each query's matches.
    song_rows = np.flatnonzero(is_song)
    matches = [
        int((specific[song_rows[song_rows != q]] & specific[q]).any(1).sum()) for q in queries
    ]
    report: dict = {
        "share": share, "songs": len(songs), "catalog": len(catalog), "heard": heard,
        "songs_only_ceiling_p_at_10": round(float(np.mean(np.minimum(matches, K))) / K, 4),
        "modes": {},
    }  # fmt: skip
    for name, lists in picks.items():
        report["modes"][name] = _measure(lists, queries, specific, songs, within.get(name))
    return report


def _name(margin: float) -> str:
    return "songs-first@" + ("inf" if margin == float("inf") else f"{margin:g}")


def _measure(
    lists: list[list[int]],
    queries: np.ndarray,
    specific: np.ndarray,
    songs: frozenset[int],
    within: list[bool] | None,
) -> dict[str, float | int | None]:
    p, share, mostly = [], [], []
    for n, (q, top) in enumerate(zip(queries, lists, strict=True)):
        p.append(float((specific[top] & specific[q]).any(1).mean()) if top else 0.0)
        in_songs = sum(t in songs for t in top)
        share.append(in_songs / K)
        if within is not None and within[n]:
            mostly.append(in_songs >= MOSTLY_SONGS)
    return {
        "p_at_10": round(float(np.mean(p)), 4),
        "songs_in_top_10": round(float(np.mean(share)) * K, 3),
        "queries_with_10_songs_within_margin": len(mostly) if within is not None else None,
        "mostly_songs_share": round(float(np.mean(mostly)), 4) if mostly else None,
    }
