"""``targets``: every quality, speed and memory target the README states, measured and
checked in one table (figure, target, room, pass or fail).

The suite (``scripts/test.sh``) checks that earshot is correct; the figures that depend on
the machine and on long runs are measured here. Each run is a whole command (the
quality protocol, or one benchmark) whose JSON report is kept in ``--reports`` (by default
``data/targets``), so ``--reuse`` prints the table again from kept reports, and ``--only``
measures some runs. All of them take about an hour and a half on an idle 2-core machine.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from recommender.ranking.songs_first import SONGS_FIRST_MARGIN
from scripts.benchmarks.harness import ROOT, SHARED_AUDIOSET, machine

HELP = "measure every README target and print figure, target and pass or fail"

SAMPLE = Path(os.environ.get("EARSHOT_AUDIOSET_SAMPLE", SHARED_AUDIOSET))
SPLIT = SAMPLE / "audioset_v1_embeddings" / "bal_train"


@dataclass(frozen=True)
class Run:
    """One command whose JSON report holds some targets' figures."""

    args: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    minutes: int = 10  # about this long on an idle 2-core machine (printed before it starts)


# The whole quality protocol: descriptions, the k-fold taggers, simulated members.
PROTOCOLS = ("--describe", "--folds", "5", "--feedback")


def _evaluate(*extra: str, protocols: tuple[str, ...] = PROTOCOLS, minutes: int = 15) -> Run:
    return Run(
        (
            "-m",
            "recommender",
            "evaluate",
            "--train",
            str(SPLIT),
            "--test",
            str(SPLIT),
            "--meta",
            str(SAMPLE),
            "--holdout",
            "0.5",
            *protocols,
            "--json",
            *extra,
        ),
        # The README's figures are single-threaded BLAS: threads change float sums.
        env={"OPENBLAS_NUM_THREADS": "1"},
        minutes=minutes,
    )


def _benchmark(name: str, *extra: str, minutes: int = 10) -> Run:
    return Run(("-m", "scripts.benchmarks", name, *extra, "--json"), minutes=minutes)


RUNS: dict[str, Run] = {
    "quality-a": _evaluate(),
    "quality-b": _evaluate("--swap"),
    "scale": _benchmark("scale", "--clips", "1000000", minutes=20),
    "scale-skewed": _benchmark("scale", "--clips", "1000000", "--skew", minutes=20),
    "bot": _benchmark("bot", minutes=6),
    "listen": _benchmark("listen", minutes=3),
    "rerank": _benchmark("rerank", minutes=3),
    "titles": _benchmark("titles", minutes=5),
    "cluster": _benchmark("cluster", minutes=12),
    # SUGGEST_FROM=songs-first on the held-out half, a fifth of it marked as songs.
    "songs": _evaluate("--songs", "0.2", protocols=(), minutes=8),
    "adding": _benchmark("adding", minutes=6),
}


@dataclass(frozen=True)
class Target:
    run: str
    what: str
    figure: Callable[[dict], float]
    limit: float
    at_least: bool  # True: the figure must be >= limit; False: <= limit
    unit: str = ""

    def check(self, report: dict) -> tuple[float | None, str]:
        """The figure and a verdict: pass, FAIL, or why there is no figure."""
        try:
            value = float(self.figure(report))
        except (KeyError, IndexError, TypeError, ValueError, ZeroDivisionError) as exc:
            return None, f"no figure ({type(exc).__name__}: {exc})"
        if math.isnan(value):
            return None, "no figure (nan)"
        met = value >= self.limit if self.at_least else value <= self.limit
        return value, "pass" if met else "FAIL"

    def room(self, value: float) -> str:
        """How far the figure is from its limit, as a share of the limit."""
        if self.limit == 0:
            return ""
        share = (value - self.limit) / abs(self.limit)
        return f"{100 * (share if self.at_least else -share):+.0f}%"


KINDS = {"one label": 5.0, "several labels": 3.0, "noisy": 3.0, "lurker": 2.0}


def _worst_round_drop(report: dict) -> float:
    """The largest fall of a round's P@10 below the round before, in standard errors of
    the difference (no round may fall by more than one)."""
    drops = [0.0]
    for kind in report["feedback"]["kinds"].values():
        for before, after in itertools.pairwise(kind["round_p_at_10"]):
            spread = math.hypot(before["se"], after["se"]) or 1e-9
            drops.append((before["mean"] - after["mean"]) / spread)
    return max(drops)


def _quality(run: str, half: str) -> list[Target]:
    def method(name: str, key: str = "p_at_10") -> Callable[[dict], float]:
        return lambda r: r["methods"][name][key]

    def described(*path: str) -> Callable[[dict], float]:
        def read(r: dict) -> float:
            value = r["descriptions"]["labelled"]
            for key in path:
                value = value[key]
            return value

        return read

    targets = [
        Target(
            run,
            f"earshot / original P@10, half {half}",
            lambda r: r["ratio_vs_seed"],
            2.0,
            True,
            "x",
        ),
        Target(run, f"k-fold P@10, half {half}", method("earshot_kfold"), 0.55, True),
        Target(
            run,
            f"sound block: learned / centred mean P@10, half {half}",
            lambda r: (
                r["methods"]["earshot_sound_only"]["p_at_10"]
                / r["methods"]["earshot_sound_centred_mean"]["p_at_10"]
            ),
            1.0,
            True,
            "x",
        ),
        Target(
            run,
            f"index recall@10 against exact search, half {half}",
            lambda r: r["annoy_recall_at_10"],
            0.95,
            True,
        ),
        Target(
            run,
            f"/discover: a label's P@10, half {half}",
            described("labels", "p_at_10"),
            0.8,
            True,
        ),
        Target(
            run, f"/discover: a pair's P@10, half {half}", described("pairs", "p_at_10"), 0.5, True
        ),
        Target(
            run,
            f"/discover like: the song's own-label P@10 kept, half {half}",
            described("like", "kept_share"),
            0.5,
            True,
        ),
        Target(
            run,
            f"/discover like: the described label's share, lift, half {half}",
            described("like", "described_lift"),
            2.0,
            True,
            "x",
        ),
    ]
    for kind, ratio in KINDS.items():
        targets.append(
            Target(
                run,
                f"personalisation, {kind}: round 5 / no ratings, half {half}",
                lambda r, k=kind: r["feedback"]["kinds"][k]["ratio_last_round"],
                ratio,
                True,
                "x",
            )
        )
    targets += [
        Target(
            run,
            f"personalisation: the song's own labels lost, worst kind, half {half}",
            lambda r: max(k["own_labels_relative_loss"] for k in r["feedback"]["kinds"].values()),
            0.08,
            False,
        ),
        Target(
            run,
            f"personalisation: worst fall of a round, in standard errors, half {half}",
            _worst_round_drop,
            1.0,
            False,
        ),
        Target(
            run,
            f"no ratings, no server taste: exactly the plain ranking, half {half}",
            lambda r: (
                all(k["no_ratings_identical"] for k in r["feedback"]["kinds"].values())
                and r["feedback"]["community"]["server_without_ratings_identical"]
            ),
            1.0,
            True,
        ),
    ]
    return targets


def _scale(run: str, which: str) -> list[Target]:
    return [
        Target(run, f"1M clips, {which}: reindex", lambda r: r["build_s"], 300, False, " s"),
        Target(run, f"1M clips, {which}: recall@10", lambda r: r["recall_at_10"], 0.95, True),
        Target(run, f"1M clips, {which}: lookup p50", lambda r: r["p50_ms"], 2.0, False, " ms"),
        Target(
            run,
            f"1M clips, {which}: lookup p99 / p50",
            lambda r: r["p99_ms"] / r["p50_ms"],
            5.0,
            False,
            "x",
        ),
        Target(
            run,
            f"1M clips, {which}: bot start-up to ready",
            lambda r: r["startup_s"],
            5.0,
            False,
            " s",
        ),
        Target(
            run,
            f"1M clips, {which}: bot resident at rest",
            lambda r: r["rss_mb"],
            1536,
            False,
            " MB",
        ),
    ]


def _songs_first(kind: str) -> Callable[[dict], dict]:
    return lambda r: r["songs_first"][kind]["modes"]


def _songs_fall(r: dict) -> float:
    modes = _songs_first("heard")(r)
    return modes["everything"]["p_at_10"] - modes[f"songs-first@{SONGS_FIRST_MARGIN:g}"]["p_at_10"]


SONGS_FIRST = f"songs-first@{SONGS_FIRST_MARGIN:g}"

TARGETS: list[Target] = [
    Target(
        "songs",
        "songs first: 8+ songs in the top 10 where 10 are within the margin (share)",
        lambda r: _songs_first("heard")(r)[SONGS_FIRST]["mostly_songs_share"],
        1.0,
        True,
    ),
    Target(
        "songs",
        "songs first: P@10 lost against everything (songs heard only)",
        _songs_fall,
        0.03,
        False,
    ),
    Target(
        "adding",
        "add: peak memory of a listening process",
        lambda r: max(x["peak_worker_rss_mb"] for x in r["runs"].values()),
        1536,
        False,
        " MB",
    ),
    *_quality("quality-a", "A"),
    *_quality("quality-b", "B"),
    *_scale("scale", "balanced"),
    *_scale("scale-skewed", "skewed"),
    Target(
        "bot",
        "bot at rest, whole process tree",
        lambda r: r["rss_at_rest_after_idle_mb"]["tree"],
        250,
        False,
        " MB",
    ),
    Target(
        "bot",
        "doctor, model cached, slowest run",
        lambda r: max(r["doctor"]["wall_s"]),
        15,
        False,
        " s",
    ),
    Target(
        "listen",
        "decoding's overhead over inference, worst song",
        lambda r: max(x["overhead_ratio"] for x in r["results"]),
        0.20,
        False,
    ),
    Target(
        "listen",
        "listening's peak memory, 5-minute song",
        lambda r: max(x["peak_rss_mb"] for x in r["results"]),
        1536,
        False,
        " MB",
    ),
    Target(
        "rerank",
        "re-ranking p99 at 1M clips",
        lambda r: r["rerank_only_ms"]["p99"],
        5.0,
        False,
        " ms",
    ),
    Target(
        "titles",
        "titles added to a reply, none cached (p50)",
        lambda r: r["reply"]["added_ms_p50"]["cold_cache"],
        300,
        False,
        " ms",
    ),
    Target(
        "titles",
        "titles added to a reply, all cached (p50; 'none': within 1 ms)",
        lambda r: r["reply"]["added_ms_p50"]["warm_cache"],
        1.0,
        False,
        " ms",
    ),
    Target(
        "cluster",
        "2 listening workers with one core each / 1 (median of runs)",
        lambda r: r["one_core_each"]["ratio_to_1_median"],
        1.8,
        True,
        "x",
    ),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--only",
        type=lambda text: [name.strip() for name in text.split(",") if name.strip()],
        default=list(RUNS),
        help=f"runs to measure, comma-separated (default: all of {', '.join(RUNS)})",
    )
    parser.add_argument(
        "--reports",
        type=Path,
        default=ROOT / "data" / "targets",
        help="folder for the runs' JSON reports (default data/targets)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="use a run's kept report instead of measuring again, where there is one",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def measure(name: str, run: Run, reports: Path) -> dict:
    """Run one command to its end and keep its report; a failed run's report says why."""
    print(
        f"measuring {name} (about {run.minutes} min): python {' '.join(run.args)}",
        file=sys.stderr,
        flush=True,
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, *run.args],
        cwd=ROOT,
        env={**os.environ, **run.env},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    took = round(time.monotonic() - started, 1)
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        report = {"failed": f"exit {done.returncode}: {done.stderr.strip()[-2000:]}"}
    report["_run"] = {"command": ["python", *run.args], "env": run.env, "wall_s": took}
    reports.mkdir(parents=True, exist_ok=True)
    (reports / f"{name}.json").write_text(json.dumps(report, indent=2))
    return report


def check(reports: dict[str, dict], targets: Iterable[Target] = TARGETS) -> list[dict]:
    """One row per target whose run has a report."""
    rows = []
    for target in targets:
        report = reports.get(target.run)
        if report is None:
            continue
        value, verdict = target.check(report)
        if "failed" in report:
            verdict = f"no figure (the run failed: {report['failed'][:200]})"
        rows.append(
            {
                "run": target.run,
                "what": target.what,
                "figure": value,
                "target": f"{'>=' if target.at_least else '<='} {target.limit:g}{target.unit}",
                "room": target.room(value) if value is not None else "",
                "verdict": verdict,
                "measured_on": (report.get("machine") or {}).get("cpu", ""),
            }
        )
    return rows


def run(args: argparse.Namespace) -> dict:
    unknown = [name for name in args.only if name not in RUNS]
    if unknown:
        raise SystemExit(f"no run named {', '.join(unknown)}; the runs: {', '.join(RUNS)}")
    reports: dict[str, dict] = {}
    for name in args.only:
        kept = args.reports / f"{name}.json"
        if args.reuse and kept.is_file():
            reports[name] = json.loads(kept.read_text())
        else:
            reports[name] = measure(name, RUNS[name], args.reports)
    rows = check(reports)
    return {
        "benchmark": "targets",
        "machine": machine(),
        "reports": str(args.reports),
        "rows": rows,
        "passed": sum(row["verdict"] == "pass" for row in rows),
        "failed": sum(row["verdict"] != "pass" for row in rows),
    }


def exit_code(report: dict) -> int:
    return 1 if report["failed"] else 0


def as_text(report: dict) -> str:
    m = report["machine"]
    lines = [
        f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, Python {m['python']}",
        f"{'target':74} {'figure':>10} {'limit':>12} {'room':>6}  verdict",
    ]
    for row in report["rows"]:
        figure = "" if row["figure"] is None else f"{row['figure']:.3f}".rstrip("0").rstrip(".")
        lines.append(
            f"{row['what'][:74]:74} {figure:>10} {row['target']:>12} {row['room']:>6}  "
            f"{row['verdict']}"
        )
    lines.append(
        f"targets: {report['passed']} met, {report['failed']} not met or not measured "
        f"(reports in {report['reports']})"
    )
    return "\n".join(lines)
