"""The quality protocol on the real balanced-train sample, split in half by video id."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from recommender.evaluate import holdout_fraction, precision
from scripts.standins.cli import run_cli


def test_precision_counts_shared_labels() -> None:
    labels = np.array([[1, 0], [1, 0], [0, 1], [0, 0]], dtype=bool)
    results = np.array([[1, 2, 3]])
    assert precision(results, np.array([0]), labels) == pytest.approx(1 / 3)


def test_holdout_is_stable_and_balanced() -> None:
    ids = [f"{i:011d}" for i in range(4000)]
    share = np.mean([holdout_fraction(v) < 0.5 for v in ids])
    assert 0.47 < share < 0.53
    # The same video falls on the same side in every run and on every machine: the
    # fraction comes from a hash of the id, pinned here by known values.
    # (A change here moves clips between the halves, and every figure in the README.)
    assert holdout_fraction("abcdefghijk") == pytest.approx(0.3671076072948171, abs=1e-15)
    assert holdout_fraction("-0SdAVK79lg") == pytest.approx(0.3802021944346934, abs=1e-15)


@pytest.mark.slow
def test_earshot_at_least_doubles_the_original_method(audioset: Path, tmp_path: Path) -> None:
    split = str(audioset / "audioset_v1_embeddings" / "bal_train")
    result = run_cli(
        tmp_path,
        "evaluate",
        "--train",
        split,
        "--test",
        split,
        "--meta",
        str(audioset),
        "--holdout",
        "0.5",
        "--feedback",
        "--json",
        TAGGER_STEPS="800",
    )
    report = json.loads(result.stdout)
    seed, earshot = report["methods"]["seed"], report["methods"]["earshot"]
    for method in (seed, earshot):
        assert set(method) >= {"p_at_10", "genre_p_at_10", "instrument_p_at_10"}
    assert report["catalog"] > 4000 and report["queries"] > 2500
    assert 0.15 < seed["p_at_10"] < 0.30  # the original method, as reported
    assert earshot["p_at_10"] >= 2 * seed["p_at_10"]
    assert report["annoy_recall_at_10"] >= 0.95
    feedback = report["feedback"]
    assert feedback["members"] >= 50
    assert feedback["round_p_at_10"][2] >= 1.5 * feedback["no_feedback_p_at_10"]
    assert feedback["no_ratings_identical"]  # members without ratings: the plain ranking
