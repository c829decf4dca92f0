"""``lookups``: recall@10 and latency of index lookups against exact search, which ``scale``
measures on its build, and this command again on a build kept by ``scale --keep DIR``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from scripts.benchmarks.harness import at_share, machine

HELP = "lookups again on a build kept by scale --keep"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", type=Path)
    parser.add_argument("--max-groups", type=int, default=0, help="INDEX_MAX_GROUPS to try")
    parser.add_argument("--search-k", type=int, default=0, help="INDEX_SEARCH_K to try")
    parser.add_argument("--json", action="store_true")


def measure_lookups(
    index, queries, exact, catalog_queries: int, max_groups: int = 0, search_k: int = 0
) -> dict:
    """Recall@10 against exact search, p50 and p99 of ``queries`` at the shipped search
    settings (or the ``max_groups`` and ``search_k`` given); the first ``catalog_queries``
    are catalog clips, the rest new songs."""
    import numpy as np

    from recommender.config import Settings

    shipped = Settings()
    max_groups = max_groups or shipped.index_max_groups
    search_k = search_k or shipped.index_search_k or -1

    def lookup(q):
        return index.search(
            q,
            10,
            overfetch=shipped.index_overfetch,
            search_k=search_k,
            max_groups=max_groups,
        )

    # One untimed pass first: a serving bot's index pages are warm, and exact searches
    # have just read every vector once (the page cache's order, not the lookup's, would
    # otherwise set the tail).
    for q in queries:
        lookup(q)
    times, recall = [], []
    for q, truth in zip(queries, exact, strict=True):
        t = time.perf_counter()
        hits = lookup(q)
        times.append((time.perf_counter() - t) * 1000)
        recall.append(len({h.position for h in hits} & truth) / 10)
    times.sort()
    p50, p99 = at_share(times, 0.5), at_share(times, 0.99)
    return {
        "search": {
            "max_groups": max_groups,
            "search_k": search_k,
            "overfetch": shipped.index_overfetch,
        },
        "recall_at_10_by_query": {
            "catalog_clips": round(float(np.mean(recall[:catalog_queries])), 4),
            "new_songs": round(float(np.mean(recall[catalog_queries:])), 4),
        },
        "recall_at_10": round(float(np.mean(recall)), 4),
        "p50_ms": round(p50, 3),
        "p99_ms": round(p99, 3),
        "p99_over_p50": round(p99 / p50, 1),
    }


def run(args: argparse.Namespace) -> dict:
    """The lookup figures of a build kept by ``scale --keep DIR``, again: its queries and
    exact answers, at the shipped search settings (to measure a search setting without
    building a million clips again)."""
    import numpy as np

    from recommender.index.vector_index import VectorIndex

    index = VectorIndex.open_current(args.dir / "data" / "index")
    if index is None:
        raise SystemExit(f"{args.dir} holds no build kept by scale --keep")
    queries = np.load(args.dir / "queries.npy")
    exact = [set(row.tolist()) for row in np.load(args.dir / "exact.npy")]
    report = {"benchmark": "lookups", "machine": machine(), "build": str(args.dir)}
    search = {"max_groups": args.max_groups, "search_k": args.search_k}
    report.update(
        measure_lookups(index, queries, exact, len(queries) - len(queries) // 2, **search)
    )
    index.close()
    return report
