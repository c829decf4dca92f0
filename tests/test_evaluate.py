"""The quality protocol on the real balanced-train sample, split in half by video id."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from recommender.quality.evaluate import holdout_fraction, precision
from scripts.benchmarks import targets
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


# The suite checks that the protocol computes what it says, on the real sample with a small
# tagger (200 steps, one member) and a short simulation (4 seeds of 40 members of each
# kind), with floors far from any figure a machine's floating point or load can move. The
# README's targets, with the shipped tagger and 16 seeds, are measured and checked by
# `bash scripts/targets.sh` (scripts/benchmarks/targets.py), not here.
SMALL = {"TAGGER_STEPS": "200", "TAGGER_MEMBERS": "1", "OPENBLAS_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def report(audioset: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One evaluation of half A with every part on: descriptions, 2 folds, the simulation."""
    split = str(audioset / "audioset_v1_embeddings" / "bal_train")
    result = run_cli(
        tmp_path_factory.mktemp("evaluate"),
        "evaluate", "--train", split, "--test", split, "--meta", str(audioset),
        "--holdout", "0.5", "--describe", "--folds", "2",
        "--feedback", "--seeds", "4", "--members", "40", "--songs", "0.2", "--json",
        timeout_s=1800,  # a hang guard: about a minute on an idle 2-core machine
        **SMALL,
    )  # fmt: skip
    return json.loads(result.stdout)


def test_every_method_is_measured_beside_chance(report: dict) -> None:
    assert report["catalog"] > 4000 and report["queries"] > 2500
    chance = report["chance"]
    assert 0 < chance["leaf_p_at_10"] <= chance["p_at_10"] < 0.05
    methods = report["methods"]
    for name in ("seed", "earshot", "earshot_sound_only", "earshot_sound_centred_mean"):
        method = methods[name]
        assert set(method) >= {"p_at_10", "p_at_10_se", "genre_p_at_10", "instrument_p_at_10"}
        assert 0 < method["leaf_p_at_10"] <= method["p_at_10"], name
        assert 0 < method["p_at_10_se"] < 0.02, name  # thousands of queries
        assert method["p_at_10"] > 5 * chance["p_at_10"], name
    assert report["settings"]["tagger_steps"] == 200


def test_earshot_beats_the_original_method_and_sound_alone(report: dict) -> None:
    """Wide floors: the small tagger gives about 2.2x the original (the shipped one 2.4x),
    and the tags about 0.17 above the sound block alone."""
    seed, earshot = report["methods"]["seed"], report["methods"]["earshot"]
    assert 0.15 < seed["p_at_10"] < 0.30  # the original method, as reported
    assert earshot["p_at_10"] >= 1.5 * seed["p_at_10"]
    assert report["ratio_vs_seed"] == pytest.approx(earshot["p_at_10"] / seed["p_at_10"])
    assert earshot["p_at_10"] > report["methods"]["earshot_sound_only"]["p_at_10"] + 0.05
    assert report["annoy_recall_at_10"] >= 0.9  # 0.99 and more on this sample


def test_the_k_fold_tagger_never_learns_from_its_query(report: dict) -> None:
    """A tagger per fold learns from more clips (the other half and the other fold), never
    from the query: about the halves' figure, not the jump a leak into its own tagger
    would give."""
    halves, kfold = report["methods"]["earshot"], report["methods"]["earshot_kfold"]
    assert report["settings_kfold"] == {"folds": 2}
    assert halves["p_at_10"] - 0.05 <= kfold["p_at_10"] < halves["p_at_10"] + 0.1
    assert 0 < kfold["leaf_p_at_10"] <= kfold["p_at_10"]


def test_descriptions_find_their_labels(report: dict) -> None:
    """On the labelled catalog a label's top 10 carries it by construction; the heard
    catalog (labels hidden) stays far above chance; steering toward a label raises its
    share and keeps much of the song."""
    labelled, heard = report["descriptions"]["labelled"], report["descriptions"]["heard"]
    assert labelled["labels"]["cases"] >= 100 and labelled["pairs"]["cases"] >= 30
    assert labelled["labels"]["p_at_10"] >= 0.95 and labelled["pairs"]["p_at_10"] >= 0.9
    assert heard["labels"]["p_at_10"] >= 10 * heard["labels"]["chance"]
    like = labelled["like"]
    assert like["queries"] >= 300
    assert like["described_label_share"]["steered"] > 3 * like["described_label_share"]["plain"]
    assert like["own_labels_p_at_10"]["steered"] > 0.3 * like["own_labels_p_at_10"]["plain"]


def test_ratings_lift_every_kind_of_member(report: dict) -> None:
    """Every kind of member is served its labels better after rating than with none (the
    small run gives 3x to 6x; the targets are 2x to 5x with the shipped tagger), and with
    no ratings, or a server with none, the ranking is exactly the plain one."""
    feedback = report["feedback"]
    assert feedback["seeds"] == 4 and feedback["rounds"] == 5
    assert feedback["members_per_kind"] == 40 and set(feedback["kinds"]) == set(TARGET_RATIO)
    for name, kind in feedback["kinds"].items():
        assert kind["no_ratings_identical"], name
        assert kind["round_p_at_10"][-1]["mean"] > 1.5 * kind["no_feedback_p_at_10"]["mean"], name
        assert kind["ratio_last_round"] > 1.5 and kind["ratio_last_round_se"] > 0, name
        assert 0 <= kind["own_labels_relative_loss"] < 0.3, name  # the target is 8%
    community = feedback["community"]
    assert community["server_without_ratings_identical"]
    assert community["lean"] > 1.0, community


def test_songs_first_puts_songs_first_by_the_margin_and_never_beats_the_ceiling(
    report: dict,
) -> None:
    """A fifth of the catalog as songs: the wider the margin, the more songs in the top 10
    (all of them with no margin's limit); 8 or more wherever 10 are within the margin; and
    no ranking of the songs alone beats the best P@10 they could give."""
    for kind in ("heard", "labelled"):
        songs = report["songs_first"][kind]
        assert songs["heard"] == (kind == "heard") and 700 < songs["songs"] < 1100
        modes = songs["modes"]
        counts = [modes[f"songs-first@{m}"]["songs_in_top_10"] for m in ("0", "1", "2", "inf")]
        assert counts == sorted(counts) and counts[-1] == 10.0, (kind, counts)
        assert modes["everything"]["songs_in_top_10"] < 5 < counts[2]
        for margin in ("1", "2", "inf"):
            assert modes[f"songs-first@{margin}"]["mostly_songs_share"] == 1.0
        ceiling = songs["songs_only_ceiling_p_at_10"]
        assert 0.5 < ceiling < 1 and modes["songs-first@inf"]["p_at_10"] < ceiling
    heard, labelled = (report["songs_first"][k]["modes"] for k in ("heard", "labelled"))
    assert heard["songs-first@inf"]["p_at_10"] < labelled["songs-first@inf"]["p_at_10"]
    rows = targets.check({"songs": report})
    assert [row["figure"] is not None for row in rows if row["run"] == "songs"] == [True, True]


def test_every_quality_target_reads_a_figure_from_the_report(report: dict) -> None:
    """The targets command reads the same report with the shipped settings: every quality
    target it checks finds its figure here (whether the small run meets it or not)."""
    rows = targets.check({"quality-a": report, "quality-b": report})
    assert len(rows) == 2 * len(targets._quality("quality-a", "A"))
    missing = [row for row in rows if row["figure"] is None]
    assert not missing, missing


TARGET_RATIO = {"one label": 5.0, "several labels": 3.0, "noisy": 3.0, "lurker": 2.0}
