"""The quality protocol on the real balanced-train sample, split in half by video id."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from recommender.config import Settings
from recommender.quality.evaluate import holdout_fraction, precision
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


SHIPPED = Settings()  # the tagger a deployment trains: its steps and members


def _evaluate(audioset: Path, tmp_path: Path, *extra: str) -> dict:
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
        *extra,
        "--json",
        TAGGER_STEPS=str(SHIPPED.tagger_steps),
        TAGGER_MEMBERS=str(SHIPPED.tagger_members),
    )
    return json.loads(result.stdout)


# Each quality figure is asserted with the margin it has: Z of its standard errors (over
# queries, or over the simulation's seeds). Machines of this kind differ in floating point
# (OpenBLAS picks its kernels by CPU), and the simulation turns the smallest difference
# into other suggestions, other ratings and other rounds: the same commit measured noisy
# members' loss at 9.6% on one machine and 10.4% on another (about one standard error).
# The README's figures meet every target outright; a test fails only when a figure falls
# short by more than Z standard errors, or when its spread is too wide to tell.
Z = 2.0


@pytest.mark.slow
def test_earshot_at_least_doubles_the_original_method(audioset: Path, tmp_path: Path) -> None:
    report = _evaluate(audioset, tmp_path, "--describe", "--folds", "5")
    check_descriptions(report["descriptions"])
    check_k_fold(report)
    seed, earshot = report["methods"]["seed"], report["methods"]["earshot"]
    sound = report["methods"]["earshot_sound_only"]
    for method in (seed, earshot, sound):
        assert set(method) >= {"p_at_10", "p_at_10_se", "genre_p_at_10", "instrument_p_at_10"}
        assert 0 < method["leaf_p_at_10"] <= method["p_at_10"]
        assert 0 < method["p_at_10_se"] < 0.02  # thousands of queries
    # Beside chance (a random other clip): every method far above it, tags above sound.
    chance = report["chance"]
    assert 0 < chance["leaf_p_at_10"] <= chance["p_at_10"] < 0.05
    assert seed["p_at_10"] > 5 * chance["p_at_10"]
    assert earshot["p_at_10"] > sound["p_at_10"] + Z * earshot["p_at_10_se"]
    # The learned sound block hears labels better than the centred mean it replaced
    # (issue 25: 0.314 against 0.291 on this half, about 4 standard errors).
    centred = report["methods"]["earshot_sound_centred_mean"]
    assert sound["p_at_10"] > centred["p_at_10"] + sound["p_at_10_se"], (sound, centred)
    assert sound["leaf_p_at_10"] > centred["leaf_p_at_10"], (sound, centred)
    assert report["catalog"] > 4000 and report["queries"] > 2500
    assert 0.15 < seed["p_at_10"] < 0.30  # the original method, as reported
    margin = Z * np.hypot(earshot["p_at_10_se"], 2 * seed["p_at_10_se"])
    assert earshot["p_at_10"] >= 2 * seed["p_at_10"] - margin
    assert report["annoy_recall_at_10"] >= 0.95


def check_descriptions(described: dict) -> None:
    """Issue 24's targets for /discover on one half, each with its margin: a label's P@10
    at least 0.8, a pair's at least 0.5; steered from a song, at least half of the song's
    own-label P@10 kept and the described label's share at least doubled. The heard
    catalog (labels hidden) is reported, and must stay far above chance."""
    labelled, heard = described["labelled"], described["heard"]
    assert labelled["labels"]["cases"] >= 100 and labelled["pairs"]["cases"] >= 30
    for block, target in ((labelled["labels"], 0.8), (labelled["pairs"], 0.5)):
        assert block["p_at_10"] + Z * block["p_at_10_se"] >= target, block
        assert block["chance"] < 0.05
    like = labelled["like"]
    assert like["queries"] >= 300
    own, said = like["own_labels_p_at_10"], like["described_label_share"]
    assert own["steered"] - 0.5 * own["plain"] + Z * like["kept_margin_se"] >= 0, like
    assert said["steered"] - 2 * said["plain"] + Z * like["lift_margin_se"] >= 0, like
    assert heard["labels"]["p_at_10"] >= 10 * heard["labels"]["chance"], heard["labels"]


@pytest.mark.slow
def test_the_other_half_descriptions_and_the_k_fold_protocol(
    audioset: Path, tmp_path: Path
) -> None:
    report = _evaluate(audioset, tmp_path, "--swap", "--describe", "--folds", "5")
    check_descriptions(report["descriptions"])
    check_k_fold(report)


KFOLD_TARGET = 0.55  # issue 25: P@10 with the tagger learning as the bot's does


def check_k_fold(report: dict) -> None:
    """A tagger per fold learns from more clips (the other half and four fifths of this
    one) and never from the query, as the bot's learns from its whole catalog: no worse
    than the halves' figure, not the jump that a query leaking into its own tagger would
    give, and at least issue 25's target."""
    halves, kfold = report["methods"]["earshot"], report["methods"]["earshot_kfold"]
    assert kfold["p_at_10"] >= halves["p_at_10"] - Z * halves["p_at_10_se"]
    assert kfold["p_at_10"] < halves["p_at_10"] + 0.1
    assert 0 < kfold["leaf_p_at_10"] <= kfold["p_at_10"]
    assert kfold["p_at_10"] >= KFOLD_TARGET - Z * kfold["p_at_10_se"], kfold


TARGET_RATIO = {"one label": 5.0, "several labels": 3.0, "noisy": 3.0, "lurker": 2.0}
LOSS_TARGET = 0.08  # at most this share of the song's own labels lost to personalisation


@pytest.mark.slow
@pytest.mark.parametrize("half", ["A", "B"])
def test_personalisation_meets_its_targets(audioset: Path, tmp_path: Path, half: str) -> None:
    """Issue 13's targets, with issue 19's 8% for the song's own labels, on each half."""
    swap = ["--swap"] if half == "B" else []
    feedback = _evaluate(audioset, tmp_path, *swap, "--feedback")["feedback"]
    assert feedback["seeds"] == 16 and feedback["rounds"] == 5
    assert feedback["members_per_kind"] >= 60 and set(feedback["kinds"]) == set(TARGET_RATIO)
    for name, kind in feedback["kinds"].items():
        rounds = kind["round_p_at_10"]
        for before, after in itertools.pairwise(rounds):
            spread = np.hypot(before["se"], after["se"])
            assert after["mean"] >= before["mean"] - Z * spread, (name, rounds)
        assert kind["no_ratings_identical"], name  # no ratings: exactly the plain ranking
        ratio, se = kind["ratio_last_round"], kind["ratio_last_round_se"]
        # Spread bounds: wide enough for the attention tagger's figures (half B's lurkers
        # 3.87 ± 0.53 against a 2x target, README), narrow enough that noise cannot pass.
        assert 0 < se < 0.3 * TARGET_RATIO[name], (name, ratio, se)
        assert ratio >= TARGET_RATIO[name] - Z * se, (name, ratio, se)
        loss, se = kind["own_labels_relative_loss"], kind["own_labels_loss_se"]
        assert 0 < se < 0.03, (name, loss, se)
        assert loss <= LOSS_TARGET + Z * se, (name, loss, se)
    community = feedback["community"]
    assert community["server_without_ratings_identical"]
    # A newcomer leans toward the server's taste (1.48x ± 0.24 and 1.69x ± 0.34 on the two
    # halves over 12 servers, README), and a newcomer elsewhere does not.
    assert community["lean"] > 1.0 and community["lean_se"] < 0.4, community
    elsewhere = community["other_server_minus_plain"]
    assert elsewhere["mean"] <= Z * elsewhere["se"], community
