"""The quality protocol and the feedback simulation: evaluate."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from ...config import Settings
from .common import command, folder_option, log


def _print_feedback(f: dict) -> None:
    def cell(figure: dict) -> str:
        return f"{figure['mean']:.3f}±{figure['se']:.3f}"

    print(
        f"feedback: {f['members_per_kind']} members of each kind, {f['seeds']} seeds, "
        "P@10 for the member's labels (mean±standard error over seeds)"
    )
    header = " ".join(f"round {r:<6}" for r in range(1, f["rounds"] + 1))
    print(f"  {'kind':15} {'no ratings':12} {header}  ratio  own labels plain -> rated")
    for name, k in f["kinds"].items():
        rounds = " ".join(f"{cell(r):12}" for r in k["round_p_at_10"])
        print(
            f"  {name:15} {cell(k['no_feedback_p_at_10']):12} {rounds} "
            f"{k['ratio_last_round']:5.2f}x {cell(k['own_labels_plain'])} -> "
            f"{cell(k['own_labels_rated'])} ({100 * k['own_labels_relative_loss']:+.1f}% loss)"
        )
    c = f["community"]
    print(
        f"  community: a new member's P@10 for their server's label "
        f"{c['newcomer_p_at_10_for_server_label']:.3f} against "
        f"{c['plain_p_at_10_for_server_label']:.3f} plain ({c['lean']:.2f}x); "
        f"another server's newcomer {c['other_server_p_at_10_for_that_label']:.3f}; "
        f"a server without ratings gives the plain ranking: "
        f"{c['server_without_ratings_identical']}"
    )


def _print_descriptions(descriptions: dict) -> None:
    def row(name: str, s: dict) -> str:
        return (
            f"  {name:11} P@10 {s['p_at_10']:.3f} (min {s['min_p_at_10']:.3f}) over "
            f"{s['cases']}, chance {s['chance']:.3f}"
        )

    for catalog, d in descriptions.items():
        print(f"descriptions, {catalog} catalog (labels and pairs on {d['min_clips']}+ clips):")
        print(row("a label", d["labels"]))
        for kind, s in d["by_kind"].items():
            print(row(f"  {kind}", s))
        if d["pairs"]["cases"]:
            print(row("a pair", d["pairs"]))
        _print_like(d["like"])


def _print_like(like: dict) -> None:
    print(
        f"  like a song (strength {like['strength']}): keeps {like['kept_share']:.2f} of its "
        f"own-label P@10 ({like['own_labels_p_at_10']['plain']:.3f} -> "
        f"{like['own_labels_p_at_10']['steered']:.3f}); the described label's share "
        f"{like['described_label_share']['plain']:.3f} -> "
        f"{like['described_label_share']['steered']:.3f} ({like['described_lift']}x)"
    )


async def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    """P@10 on AudioSet's specific music labels, earshot against the original method, and
    Annoy's recall against exact search."""
    from ...audioset.ontology import Ontology, find_metadata_dir
    from ...quality.evaluate import evaluate, load_split

    meta = args.meta or find_metadata_dir(args.train)
    if meta is None:
        print(
            "evaluate needs --meta DIR (class_labels_indices.csv, ontology.json)", file=sys.stderr
        )
        return 2
    ontology = Ontology.load(meta)
    split = load_split(args.train, args.test, ontology, args.holdout, args.swap)
    report = await asyncio.to_thread(
        evaluate,
        split,
        ontology,
        trees=args.trees,
        overfetch=args.overfetch,
        tagger_steps=settings.tagger_steps,
        tagger_members=settings.tagger_members,
        feedback=args.feedback,
        feedback_seeds=args.seeds,
        feedback_rounds=args.rounds,
        feedback_members=args.members,
        describe=args.describe,
        folds=args.folds,
        songs_share=args.songs,
        progress=lambda msg: log.info("%s", msg),
    )
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(
        f"catalog {report['catalog']} music clips, {report['queries']} queries, "
        f"train {report['train']} music clips"
    )
    chance = report["chance"]
    print(
        f"{'chance':26} P@10 {chance['p_at_10']:.3f}  leaf labels only {chance['leaf_p_at_10']:.3f}"
    )
    names = ("seed", "earshot_sound_centred_mean", "earshot_sound_only", "earshot", "earshot_kfold")
    for name in names:
        if name not in report["methods"]:
            continue
        m = report["methods"][name]
        print(
            f"{name:26} P@10 {m['p_at_10']:.3f} ± {m['p_at_10_se']:.3f}  leaf labels only "
            f"{m['leaf_p_at_10']:.3f}  genre {m['genre_p_at_10']:.3f}  "
            f"instrument {m['instrument_p_at_10']:.3f}"
        )
    if "feedback" in report:
        _print_feedback(report["feedback"])
    if "descriptions" in report:
        _print_descriptions(report["descriptions"])
    for songs in report.get("songs_first", {}).values():
        _print_songs_first(songs)
    print(
        f"earshot / seed: {report['ratio_vs_seed']:.2f}x; "
        f"Annoy recall@10 {report['annoy_recall_at_10']:.3f}"
    )
    return 0


def _print_songs_first(report: dict) -> None:
    kind = "heard only: their labels unread" if report["heard"] else "keeping their labels"
    print(
        f"songs first: {report['songs']} of {report['catalog']} clips marked as songs ({kind}); "
        f"the best P@10 songs alone could give: {report['songs_only_ceiling_p_at_10']:.3f}"
    )
    for name, m in report["modes"].items():
        mostly = m["mostly_songs_share"]
        told = (
            f", 8+ songs in {mostly:.0%} of the {m['queries_with_10_songs_within_margin']} "
            "queries with 10 songs within the margin"
            if mostly is not None
            else ""
        )
        print(
            f"  {name:20} P@10 {m['p_at_10']:.3f}, songs in top 10 {m['songs_in_top_10']:.1f}{told}"
        )


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = command(sub, cmd_evaluate, "measure recommendation quality on AudioSet labels")
    folder_option(p, "--train", "folder of .tfrecord files to fit on", required=True)
    folder_option(p, "--test", "folder of .tfrecord files for catalog and queries", required=True)
    folder_option(p, "--meta", "folder with class_labels_indices.csv and ontology.json")
    p.add_argument(
        "--holdout",
        type=float,
        metavar="FRACTION",
        help="split by video id: this fraction of --test is test, the rest of "
        "--train is train (use with --train and --test the same folder)",
    )
    p.add_argument(
        "--swap",
        action="store_true",
        help="with --holdout: measure the other half (train and test swapped)",
    )
    p.add_argument(
        "--trees", type=int, default=10, help="Annoy trees per large tag group (default 10)"
    )
    p.add_argument(
        "--overfetch",
        type=int,
        default=20,
        help="candidates per result re-ranked exactly (default 20)",
    )
    p.add_argument(
        "--feedback",
        action="store_true",
        help="also simulate members who rate suggestions (four kinds: one favourite label, "
        "two or three, noisy, lurkers), and servers that share a taste",
    )
    for flag, default, what in (
        ("--seeds", 16, "seeds"),
        ("--rounds", 5, "rounds"),
        ("--members", 60, "members per kind"),
    ):
        p.add_argument(flag, type=int, default=default, help=f"with --feedback: {what}")
    p.add_argument(
        "--folds",
        type=int,
        default=1,
        metavar="K",
        help="also measure earshot with a tagger per fold of the catalog, learning from the "
        "train set and the other K-1 folds (the bot's tagger learns from its whole catalog)",
    )
    p.add_argument(
        "--describe",
        action="store_true",
        help="also measure /discover: the top 10 for a label, for a pair of labels, and a "
        "song steered toward a label, each beside the chance rate",
    )
    p.add_argument(
        "--songs",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="also measure SUGGEST_FROM=songs-first: mark this share of the catalog (0.2: a "
        "fifth) as the server's songs, heard only, and compare with everything",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
