"""The quality protocol: P@10 on AudioSet labels, earshot against the original method.

- Music clips: any label in the Music subtree. Specific labels: genre, instrument and
  mood subtrees, except the class "Musical instrument".
- Catalog: every music clip of the test set. Queries: test music clips with a specific
  label, searched leave-one-out, embedded from their frames only (labels never read).
- Anything learned is fit on the train set alone.
- P@10: share of the top 10 sharing at least one specific label with the query; also for
  genre-only and instrument-only labels (over queries that have such a label).
- Annoy recall@10: overlap of the index's top 10 with exact search's top 10.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from annoy import AnnoyIndex

from ..audioset.ontology import Ontology, find_tfrecords
from ..audioset.tfrecord import ClipRecord, CorruptRecordError, read_clips
from ..index.tagger import train_tagger
from ..index.vector_index import BUILD_THREADS, IndexWriter, VectorIndex
from ..index.vectors import SOUND_DIMS, VectorSpace
from ..ranking.pipeline import SearchSettings
from ..vggish_format import EMBEDDING_SIZE
from .descriptions import STEER_STRENGTH, describe_protocol
from .labels import label_matrix
from .simulation import simulate_feedback
from .songs_first import songs_first_protocol

K = 10
SEED_TREES = 50


@dataclass
class Split:
    train: list[ClipRecord]
    test: list[ClipRecord]


def holdout_fraction(video_id: str) -> float:
    """A stable number in [0, 1) per video: the same video always falls on the same side."""
    return int.from_bytes(hashlib.sha1(video_id.encode()).digest()[:8], "big") / 2**64


def load_clips(folder: Path, ontology: Ontology, music_only: bool = True) -> list[ClipRecord]:
    clips: list[ClipRecord] = []
    for path in find_tfrecords(folder):
        try:
            clips.extend(
                c for c in read_clips(path) if not music_only or ontology.is_music(c.labels)
            )
        except CorruptRecordError:
            continue  # evaluation uses what reads cleanly; ingest reports the rest
    return clips


def load_split(
    train: Path,
    test: Path,
    ontology: Ontology,
    holdout: float | None = None,
    swap: bool = False,
) -> Split:
    """Train and test clips; with ``holdout``, split by video id (``swap``: the other way
    round, so that both halves of one folder can be measured)."""
    train_clips = load_clips(train, ontology)
    if holdout is None:
        split = Split(train_clips, load_clips(test, ontology))
    else:
        same = train.resolve() == test.resolve()
        test_clips = load_clips(test, ontology) if not same else train_clips
        split = Split(
            [c for c in train_clips if holdout_fraction(c.video_id) >= holdout],
            [c for c in test_clips if holdout_fraction(c.video_id) < holdout],
        )
    return Split(split.test, split.train) if swap else split


def seed_vectors(clips: Sequence[ClipRecord]) -> np.ndarray:
    """The original method: the 10 raw uint8 frames concatenated (1280-d), zero-padded."""
    out = np.zeros((len(clips), K * EMBEDDING_SIZE), dtype=np.float32)
    for i, clip in enumerate(clips):
        flat = clip.frames[:K].astype(np.float32).ravel()
        out[i, : len(flat)] = flat
    return out


def precisions(results: np.ndarray, queries: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per query with a label (a column of ``labels``), the share of its results that
    share one with it."""
    rows = [i for i, q in enumerate(queries) if labels[q].any()]
    return np.array([(labels[results[i]] & labels[queries[i]]).any(axis=1).mean() for i in rows])


def precision(results: np.ndarray, queries: np.ndarray, labels: np.ndarray) -> float:
    """Mean share of each query's results that share a label (a column of ``labels``)."""
    hits = precisions(results, queries, labels)
    return float(hits.mean()) if len(hits) else float("nan")


def _scores(
    results: np.ndarray,
    queries: np.ndarray,
    specific: np.ndarray,
    genre: np.ndarray,
    instrument: np.ndarray,
    leaf: np.ndarray,
) -> dict[str, float]:
    hits = precisions(results, queries, specific)
    leaf_hits = precisions(results, queries, specific & leaf)
    return {
        "p_at_10": float(hits.mean()),
        # Over queries: the margin a test of the figure needs (README, Quality).
        "p_at_10_se": float(hits.std(ddof=1) / np.sqrt(len(hits))),
        "genre_p_at_10": precision(results, queries, specific & genre),
        "instrument_p_at_10": precision(results, queries, specific & instrument),
        # Leaf labels only: a shared "Plucked string instrument" does not count.
        "leaf_p_at_10": float(leaf_hits.mean()),
        "leaf_p_at_10_se": float(leaf_hits.std(ddof=1) / np.sqrt(len(leaf_hits))),
    }


def chance_rate(queries: np.ndarray, labels: np.ndarray) -> float:
    """What a random other clip scores: per query with a label (a column of ``labels``),
    the share of the rest of the catalog that shares one with it, averaged."""
    rows = [q for q in queries if labels[q].any()]
    matrix = labels.astype(np.float32)
    shares = [((matrix @ matrix[q]) > 0).sum() - 1 for q in rows]  # less the clip itself
    return float(np.mean(shares) / (len(labels) - 1)) if rows else float("nan")


def _recall(approx: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(e)) / K for a, e in zip(approx, exact, strict=True)]))


def _exact_top(scores: np.ndarray, self_index: int) -> np.ndarray:
    scores = scores.copy()
    scores[self_index] = -np.inf
    top = np.argpartition(-scores, K)[:K]
    return top[np.argsort(-scores[top], kind="stable")]


def _sound_top(items: np.ndarray, query_sounds: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Each query's exact top 10 by its sound block alone (itself left out)."""
    return np.array([_exact_top(items @ v, q) for q, v in zip(queries, query_sounds, strict=True)])


def fold_of(video_id: str, folds: int) -> int:
    """A stable fold per video, independent of the halves' split."""
    return int(holdout_fraction(video_id + "#fold") * folds)


def _kfold_top(
    split: Split,
    queries: np.ndarray,
    labels: Sequence[int],
    folds: int,
    steps: int,
    members: int,
    audio_weight: float | None,
) -> np.ndarray:
    """Each query's top 10 (exact search) with a tagger that learned from the train set and
    every other fold of the catalog, as the tagger the bot serves learns from its whole
    catalog and never from the song a member asks about."""
    catalog = split.test
    fold = np.array([fold_of(c.video_id, folds) for c in catalog])
    top = np.zeros((len(queries), K), dtype=np.int64)
    for f in range(folds):
        learn = list(split.train) + [c for c, g in zip(catalog, fold, strict=True) if g != f]
        tagger = train_tagger(
            [c.frames for c in learn],
            [c.labels for c in learn],
            labels,
            steps=steps,
            members=members,
        )
        space = VectorSpace(tagger) if audio_weight is None else VectorSpace(tagger, audio_weight)
        items = space.item_vectors([c.frames for c in catalog], [c.labels for c in catalog])
        for row in np.flatnonzero(fold[queries] == f):
            q = queries[row]
            top[row] = _exact_top(items @ space.query_vector(catalog[q].frames), q)
    return top


def evaluate(
    split: Split,
    ontology: Ontology,
    *,
    trees: int = 10,
    overfetch: int = 20,
    search_k: int = -1,
    tagger_steps: int = 1200,
    tagger_members: int = 1,
    audio_weight: float | None = None,
    feedback: bool = False,
    feedback_members: int = 60,
    feedback_seeds: int = 16,
    feedback_rounds: int = 5,
    describe: bool = False,
    steer_strength: float = STEER_STRENGTH,
    folds: int = 1,
    songs_share: float = 0.0,
    progress: Callable[[str], None] = lambda _: None,
) -> dict:
    specific_labels = list(ontology.specific)
    catalog = split.test
    specific = label_matrix(catalog, specific_labels)
    genre = np.array([label in ontology.genre for label in specific_labels])[None, :]
    instrument = np.array([label in ontology.instrument for label in specific_labels])[None, :]
    leaf = np.array([label in ontology.leaves for label in specific_labels])[None, :]
    queries = np.array([i for i in range(len(catalog)) if specific[i].any()], dtype=np.int64)
    if len(queries) == 0:
        raise ValueError("the test set has no music clip with a specific label to query")

    def score(results: np.ndarray) -> dict[str, float]:
        return _scores(results, queries, specific, genre, instrument, leaf)

    report: dict = {
        "queries": len(queries),
        "catalog": len(catalog),
        "train": len(split.train),
        "methods": {},
        "timings_s": {},
        # What a random other clip would score, for the same queries and labels.
        "chance": {
            "p_at_10": chance_rate(queries, specific),
            "leaf_p_at_10": chance_rate(queries, specific & leaf),
        },
    }

    # The original method: raw frames, angular Annoy, no re-rank.
    progress("seed: building the 1280-d angular index")
    seed = seed_vectors(catalog)
    annoy = AnnoyIndex(seed.shape[1], "angular")
    annoy.set_seed(42)
    for i, vector in enumerate(seed):
        annoy.add_item(i, vector)
    annoy.build(SEED_TREES, n_jobs=BUILD_THREADS)
    seed_results = np.array(
        [[j for j in annoy.get_nns_by_vector(seed[q], K + 1) if j != q][:K] for q in queries]
    )
    report["methods"]["seed"] = score(seed_results)
    unit = seed / np.maximum(np.linalg.norm(seed, axis=1, keepdims=True), 1e-9)
    seed_exact = np.array([_exact_top(unit @ unit[q], q) for q in queries])
    report["seed_annoy_recall_at_10"] = _recall(seed_results, seed_exact)
    report["methods"]["seed_exact"] = score(seed_exact)

    # earshot: tagger fit on train, item vectors with known labels, queries from frames.
    progress(f"earshot: training the tagger on {len(split.train)} clips")
    started = time.perf_counter()
    tagger = train_tagger(
        [c.frames for c in split.train],
        [c.labels for c in split.train],
        specific_labels,
        steps=tagger_steps,
        members=tagger_members,
    )
    report["timings_s"]["tagger"] = round(time.perf_counter() - started, 2)
    space = VectorSpace(tagger) if audio_weight is None else VectorSpace(tagger, audio_weight)
    items = space.item_vectors([c.frames for c in catalog], [c.labels for c in catalog])
    query_vectors = np.stack([space.query_vector(catalog[q].frames) for q in queries])

    progress("earshot: building the index")
    with tempfile.TemporaryDirectory(prefix="earshot-eval-") as tmp:
        writer = IndexWriter(Path(tmp), len(catalog), space.dim, trees)
        writer.add(np.arange(len(catalog), dtype=np.int64), items)
        started = time.perf_counter()
        writer.build()
        report["timings_s"]["index_build"] = round(time.perf_counter() - started, 2)
        writer.commit(tagger, space, {})
        index = VectorIndex.open_current(Path(tmp))
        assert index is not None
        progress(f"earshot: {len(queries)} leave-one-out queries")
        started = time.perf_counter()
        results = []
        for q, vector in zip(queries, query_vectors, strict=True):
            hits = index.search(
                vector,
                K,
                overfetch=overfetch,
                search_k=search_k,
                accept=lambda track, q=q: track != q,
            )
            results.append([h.track_id for h in hits])
        report["timings_s"]["per_query_ms"] = round(
            (time.perf_counter() - started) * 1000 / len(queries), 3
        )
        if feedback:
            report["feedback"] = simulate_feedback(
                index,
                space,
                catalog,
                specific_labels,
                seeds=feedback_seeds,
                rounds=feedback_rounds,
                members=feedback_members,
                overfetch=overfetch,
                search_k=search_k,
                progress=progress,
            )
        if describe:
            progress("earshot: the description protocol, labelled and heard catalogs")
            kinds = {c.index: str(c.kind) for c in ontology.classes}
            frames = [c.frames for c in catalog]
            labelled = describe_protocol(
                index, space, frames, specific, specific_labels, kinds, strength=steer_strength
            )
            heard_items = space.item_vectors(frames, [() for _ in catalog])
            with tempfile.TemporaryDirectory(prefix="earshot-eval-heard-") as heard_dir:
                writer = IndexWriter(Path(heard_dir), len(catalog), space.dim, trees)
                writer.add(np.arange(len(catalog), dtype=np.int64), heard_items)
                writer.build()
                writer.commit(tagger, space, {})
                heard_index = VectorIndex.open_current(Path(heard_dir))
                assert heard_index is not None
                heard = describe_protocol(
                    heard_index, space, frames, specific, specific_labels, kinds,
                    profile=index.label_profile(), strength=steer_strength,
                )  # fmt: skip
                heard_index.close()
            report["descriptions"] = {"labelled": labelled, "heard": heard}
        index.close()
    if songs_share > 0:
        search = SearchSettings(overfetch, search_k)
        report["songs_first"] = {
            kind: songs_first_protocol(
                catalog, space, specific, queries, share=songs_share, trees=trees,
                search=search, heard=kind == "heard", progress=progress,
            )
            for kind in ("heard", "labelled")
        }  # fmt: skip
    earshot_results = np.array(results)
    exact = np.array(
        [_exact_top(items @ v, q) for q, v in zip(queries, query_vectors, strict=True)]
    )
    report["methods"]["earshot"] = score(earshot_results)
    report["methods"]["earshot_exact"] = score(exact)
    # The sound block alone (tags dropped): what the tags add, and what carries a song whose
    # tags are uncertain. The original method is sound only already.
    sound = _sound_top(items[:, :SOUND_DIMS], query_vectors[:, :SOUND_DIMS], queries)
    report["methods"]["earshot_sound_only"] = score(sound)
    # The same without the learned projection (the centred mean, as builds before it):
    # what the projection adds.
    plain_space = VectorSpace(dataclasses.replace(tagger, sound_map=None))
    plain = np.stack([plain_space.sound(c.frames) for c in catalog])
    report["methods"]["earshot_sound_centred_mean"] = score(
        _sound_top(plain, plain[queries], queries)
    )
    if folds > 1:
        progress(f"earshot: {folds}-fold, a tagger per fold")
        kfold = _kfold_top(
            split, queries, specific_labels, folds, tagger_steps, tagger_members, audio_weight
        )
        report["methods"]["earshot_kfold"] = score(kfold)
        report["settings_kfold"] = {"folds": folds}
    report["annoy_recall_at_10"] = _recall(earshot_results, exact)
    seed_p = report["methods"]["seed"]["p_at_10"]
    report["ratio_vs_seed"] = report["methods"]["earshot"]["p_at_10"] / seed_p if seed_p else None
    report["settings"] = {
        "trees": trees,
        "overfetch": overfetch,
        "search_k": search_k,
        "vector_version": space.version,
        "tagger_steps": tagger_steps,
        "tagger_members": tagger_members,
    }
    return report
