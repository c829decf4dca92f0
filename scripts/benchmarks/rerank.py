"""``rerank``: re-ranking cost per request at a synthetic catalog of ``--clips`` items: the
whole serving pipeline, the re-ranking alone, and loading a member's ratings."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from scripts.benchmarks.harness import at_share, machine

HELP = "re-ranking cost per request at catalog scale"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clips", type=int, default=1_000_000)
    parser.add_argument(
        "--trees",
        type=int,
        default=2,
        help="Annoy trees (few: this measures re-ranking, not lookups)",
    )
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--ratings", type=int, default=200, help="ratings behind the taste")
    parser.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> dict:
    """Re-ranking cost per request at a synthetic catalog of ``--clips`` items."""
    import asyncio

    import numpy as np

    from recommender.catalog.store import Store
    from recommender.index.tagger import TagModel
    from recommender.index.vector_index import IndexWriter, VectorIndex
    from recommender.index.vectors import VectorSpace
    from recommender.ranking.pipeline import Candidates, rerank, steer, suggest
    from recommender.ratings import Community, MemberRatings

    rng = np.random.default_rng(0)
    n, tags = args.clips, 138
    dim = 128 + tags
    with tempfile.TemporaryDirectory(prefix="earshot-rerank-") as tmp_name:
        tmp = Path(tmp_name)
        tagger = TagModel.untrained(range(tags))
        started = time.perf_counter()
        writer = IndexWriter(tmp / "index", n, dim, trees=args.trees)
        for first in range(0, n, 50_000):
            size = min(50_000, n - first)
            sound = rng.normal(size=(size, 128)).astype(np.float32)
            sound *= 0.1 / np.linalg.norm(sound, axis=1, keepdims=True)
            labels = (rng.random((size, tags)) < 3 / tags).astype(np.float32)
            writer.add(
                np.arange(first, first + size, dtype=np.int64) + 1, np.hstack([sound, labels])
            )
        writer.build()
        writer.commit(tagger, VectorSpace(tagger), {})
        build_s = time.perf_counter() - started
        index = VectorIndex.open_current(tmp / "index")
        assert index is not None

        async def ratings_query_ms() -> list[float]:
            store = await Store.open(tmp / "db.sqlite3")
            try:
                async with store.transaction():
                    await store.db.executemany(
                        "INSERT INTO replies VALUES (?, 1, 1, 1, 'q', 0)",
                        [(m,) for m in range(200)],
                    )
                    await store.db.executemany(
                        "INSERT INTO ratings VALUES (?, 1, ?, ?, ?, ?, ?, 0)",
                        [
                            (
                                u,
                                m,
                                p,
                                int(rng.integers(1, n)),
                                f"v{u}{m}{p}",
                                1 if rng.random() < 0.4 else -1,
                            )
                            for u in range(50)
                            for m in range(4)
                            for p in range(1, 11)
                        ],
                    )
                timings = []
                for user in range(50):
                    t = time.perf_counter()
                    await store.ratings_of(user)
                    timings.append((time.perf_counter() - t) * 1000)
                return timings
            finally:
                await store.close()

        load_ms = asyncio.run(ratings_query_ms())
        timings, rerank_timings = [], []
        for _ in range(args.requests):
            query = index.vector_at(int(rng.integers(0, n))).copy()
            query[128:] = -np.log1p(-np.clip(query[128:] * 0.8 + 0.05, 0, 0.99))
            rated = rng.choice(n, size=args.ratings, replace=False) + 1
            ratings = MemberRatings(
                {int(t): (1 if i % 3 else -1) for i, t in enumerate(rated)},
                {int(t): f"v{t}" for t in rated},
            )

            def describe(hits):  # what the store answers: videos and the server's signal
                return Candidates(
                    {h.track_id: f"v{h.track_id}" for h in hits},
                    community=Community(
                        likes={h.track_id: 2 for h in hits[:5]},
                        dislikes={h.track_id: 3 for h in hits[5:8]},
                        co_likes={h.track_id: 1 for h in hits[8:12]},
                    ),
                )

            t = time.perf_counter()
            suggest(index, query, ratings, describe, count=10)
            timings.append((time.perf_counter() - t) * 1000)
            # The re-ranking alone, as the pipeline runs it: steer, then re-rank the hits.
            t = time.perf_counter()
            steered = steer(index, query, ratings)
            steer_s = time.perf_counter() - t
            hits = index.search(steered, 40 + len(ratings.disliked()), overfetch=20)
            candidates = describe(hits)
            t = time.perf_counter()
            rerank(
                index,
                steered,
                hits,
                ratings,
                candidates.community,
                videos=candidates.videos,
                count=10,
            )
            rerank_timings.append((steer_s + time.perf_counter() - t) * 1000)
        index.close()
    timings.sort()
    rerank_timings.sort()
    return {
        "benchmark": "rerank",
        "rerank_only_ms": {
            "p50": round(at_share(rerank_timings, 0.5), 3),
            "p99": round(at_share(rerank_timings, 0.99), 3),
            "max": round(rerank_timings[-1], 3),
        },
        "machine": machine(),
        "clips": n,
        "build_s": round(build_s, 1),
        "pipeline_ms": {
            "p50": round(at_share(timings, 0.5), 3),
            "p99": round(at_share(timings, 0.99), 3),
            "max": round(timings[-1], 3),
        },
        "ratings_load_ms_p50": round(at_share(sorted(load_ms), 0.5), 3),
        "requests": args.requests,
        "target_ms": 5.0,
        "ratings": args.ratings,
        "what": f"per request, with a taste from {args.ratings} ratings: the whole serving "
        "pipeline (ranking.suggest: steer, search, re-rank, widen), and the re-ranking "
        "alone (steer + re-rank of the hits; target p99 < 5 ms)",
    }
