"""hnswlib and faiss, the ``scale`` benchmark's reference points: installed when missing,
and each tuned on the same vectors up to earshot's recall."""

from __future__ import annotations

import subprocess
import sys
import time

from scripts.benchmarks.harness import ROOT, at_share


def install_anchors() -> None:
    """hnswlib and faiss, the scale benchmark's reference points: installed here (the
    versions of pyproject's ``bench`` extra) when missing, or the benchmark stops saying
    why. A comparison that was not made is never reported."""
    import importlib
    import tomllib

    try:
        importlib.import_module("hnswlib")
        importlib.import_module("faiss")
        return
    except ImportError:
        pass
    pinned = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["bench"]
    print(f"installing the reference libraries: {' '.join(pinned)}", file=sys.stderr)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", *pinned],
        capture_output=True,
        text=True,
    )
    importlib.invalidate_caches()
    try:
        importlib.import_module("hnswlib")
        importlib.import_module("faiss")
    except ImportError as exc:
        raise SystemExit(
            f"scale needs hnswlib and faiss as reference points and could not install them "
            f"({exc}); pip said:\n{done.stderr.strip()[-2000:]}\n"
            f"Install them with: {sys.executable} -m pip install -e '.[bench]'"
        ) from exc


def anchors(vectors, queries, exact, target_recall: float) -> dict:
    """hnswlib and faiss on the same vectors, each tuned up to the same recall: recall,
    p50 and p99 at the first setting that reaches it (or the last tried)."""
    import numpy as np

    def measure(search) -> dict:
        times, recall = [], []
        for q, truth in zip(queries, exact, strict=True):
            t = time.perf_counter()
            found = search(q)
            times.append((time.perf_counter() - t) * 1000)
            recall.append(len(set(found) & truth) / 10)
        times.sort()
        return {
            "recall_at_10": round(float(np.mean(recall)), 4),
            "p50_ms": round(at_share(times, 0.5), 3),
            "p99_ms": round(at_share(times, 0.99), 3),
        }

    return {
        "hnswlib": _hnswlib_anchor(vectors, measure, target_recall),
        "faiss_ivf": _faiss_anchor(vectors, measure, target_recall),
    }


def _hnswlib_anchor(vectors, measure, target_recall: float) -> dict:
    import hnswlib

    # Plain inner product. The usual reduction to Euclidean search (one more coordinate
    # so every item has the same norm) did worse here: recall 0.29 against 0.50 at
    # 1,000,000 clips, M 16, ef 1,024.
    started = time.perf_counter()
    graph = hnswlib.Index(space="ip", dim=vectors.shape[1])
    graph.init_index(max_elements=len(vectors), ef_construction=200, M=32)
    graph.add_items(vectors)
    build_s = time.perf_counter() - started
    graph.set_num_threads(1)
    for ef in (16, 32, 64, 128, 256, 512, 1024, 2048):
        graph.set_ef(ef)
        found = measure(lambda q: graph.knn_query(q, k=10)[0][0].tolist())
        if found["recall_at_10"] >= target_recall or ef == 2048:
            break
    return {**found, "ef": ef, "M": 32, "ef_construction": 200, "build_s": round(build_s, 1)}


def _faiss_anchor(vectors, measure, target_recall: float) -> dict:
    import faiss
    import numpy as np

    started = time.perf_counter()
    flat = faiss.IndexFlatIP(vectors.shape[1])
    lists = max(16, int(np.sqrt(len(vectors))))
    ivf = faiss.IndexIVFFlat(flat, vectors.shape[1], lists, faiss.METRIC_INNER_PRODUCT)
    sample = np.random.default_rng(0).choice(
        len(vectors), min(len(vectors), 50 * lists), replace=False
    )
    ivf.train(vectors[sample])
    ivf.add(vectors)
    build_s = time.perf_counter() - started
    faiss.omp_set_num_threads(1)  # one query at a time, like earshot's lookups
    for probe in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512):
        ivf.nprobe = probe
        found = measure(lambda q: ivf.search(q[None, :], 10)[1][0].tolist())
        if found["recall_at_10"] >= target_recall or probe == 512:
            break
    return {**found, "nprobe": probe, "lists": lists, "build_s": round(build_s, 1)}
