"""The benchmarks package: every benchmark is registered with its own options, both entry
points run it, and one small real run goes through the shared harness end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.benchmarks import REGISTRY, parser, targets
from scripts.benchmarks.harness import at_share, emit
from scripts.standins.cli import ROOT

NAMES = (
    "listen", "bot", "rerank", "scale", "lookups", "titles", "cluster", "sources", "adding",
    "targets",
)  # fmt: skip
# The rerank report's keys, in order: tools read these reports.
RERANK_KEYS = [
    "benchmark",
    "rerank_only_ms",
    "machine",
    "clips",
    "build_s",
    "pipeline_ms",
    "ratings_load_ms_p50",
    "requests",
    "target_ms",
    "ratings",
    "what",
]


def _run(*args: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,  # guards against a hang
    )


def test_every_benchmark_is_registered_with_its_module() -> None:
    assert tuple(REGISTRY) == NAMES
    for name, module in REGISTRY.items():
        assert module.__name__ == f"scripts.benchmarks.{name}"
        assert callable(module.add_arguments) and callable(module.run), name
        assert module.HELP, name


def test_every_benchmark_has_a_parser_with_its_options(capsys: pytest.CaptureFixture) -> None:
    for name in NAMES:
        with pytest.raises(SystemExit) as stopped:
            parser("bench").parse_args([name, "--help"])
        assert stopped.value.code == 0
        shown = capsys.readouterr().out
        assert shown.startswith(f"usage: bench {name} "), shown
        assert "--json" in shown, name
    assert parser().parse_args(["rerank"]).clips == 1_000_000
    assert parser().parse_args(["lookups", "/kept"]).search_k == 0
    assert parser().parse_args(["cluster", "--fleet", "2,4"]).fleet == (2, 4)
    child = parser().parse_args(["_listen_child", "model", "pca", "song.mp3", "30.0"])
    assert (child.model, child.seconds) == ("model", "30.0")


def test_module_help_lists_every_benchmark() -> None:
    done = _run("-m", "scripts.benchmarks", "--help", timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m scripts.benchmarks")
    for name in NAMES:
        assert f"    {name} " in done.stdout, name


def test_the_script_still_runs() -> None:
    done = _run("scripts/benchmark.py", "--help", timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: benchmark.py")
    for name in NAMES:
        assert f"    {name} " in done.stdout, name
    done = _run("scripts/benchmark.py", "nosuchbenchmark", timeout=30)
    assert done.returncode == 2 and "invalid choice" in done.stderr


def test_at_share_takes_the_value_by_rank() -> None:
    ordered = [float(v) for v in range(1, 101)]
    assert at_share(ordered, 0.5) == 51.0
    assert at_share(ordered, 0.99) == 100.0
    assert at_share([1.0, 2.0, 3.0], 0.5) == 2.0


def test_emit_prints_json_unless_there_is_a_text_form(capsys: pytest.CaptureFixture) -> None:
    report = {"benchmark": "b", "figure": 1}
    emit(report, as_json=False)
    assert json.loads(capsys.readouterr().out) == report
    emit(report, as_json=False, as_text=lambda r: f"figure {r['figure']}")
    assert capsys.readouterr().out == "figure 1\n"
    emit(report, as_json=True, as_text=lambda r: "text")
    assert json.loads(capsys.readouterr().out) == report


def test_a_small_rerank_runs_end_to_end() -> None:
    # About 3 s idle on a 2-core machine.
    done = _run(
        "-m",
        "scripts.benchmarks",
        "rerank",
        "--clips",
        "3000",
        "--requests",
        "20",
        "--ratings",
        "20",
        "--json",
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert list(report) == RERANK_KEYS
    assert report["benchmark"] == "rerank"
    assert (report["clips"], report["requests"], report["ratings"]) == (3000, 20, 20)
    assert set(report["machine"]) == {"cpu", "cores", "memory_gb", "python", "platform"}
    assert report["machine"]["cores"] >= 1
    for figures in (report["pipeline_ms"], report["rerank_only_ms"]):
        assert list(figures) == ["p50", "p99", "max"]
        assert 0 < figures["p50"] <= figures["p99"] <= figures["max"]
    assert report["ratings_load_ms_p50"] > 0

    # The targets command reads the same report: its rerank row finds the figure.
    (row,) = targets.check({"rerank": report}, [t for t in targets.TARGETS if t.run == "rerank"])
    assert row["figure"] == report["rerank_only_ms"]["p99"]
    assert row["verdict"] in ("pass", "FAIL") and row["measured_on"] == report["machine"]["cpu"]


def test_a_target_passes_fails_or_says_why_it_has_no_figure() -> None:
    at_most = targets.Target("run", "at most 5", lambda r: r["x"], 5.0, False, " ms")
    at_least = targets.Target("run", "at least 2", lambda r: r["x"] / r["y"], 2.0, True, "x")
    assert at_most.check({"x": 4.0}) == (4.0, "pass") and at_most.room(4.0) == "+20%"
    assert at_most.check({"x": 5.5}) == (5.5, "FAIL") and at_most.room(5.5) == "-10%"
    assert at_least.check({"x": 5.0, "y": 2.0}) == (2.5, "pass")
    assert at_least.check({"x": 3.0, "y": 2.0}) == (1.5, "FAIL")
    assert at_least.check({"x": 3.0, "y": 0})[1].startswith("no figure (ZeroDivisionError")
    assert at_most.check({})[1] == "no figure (KeyError: 'x')"
    rows = targets.check({"run": {"failed": "exit 1: Traceback"}}, [at_most])
    assert rows[0]["verdict"].startswith("no figure (the run failed: exit 1")
    assert targets.check({"other": {"x": 1}}, [at_most]) == []  # its run was not measured


def test_the_targets_command_prints_the_table_and_fails_on_a_missed_target(
    tmp_path: Path,
) -> None:
    """From kept reports (--reuse): the table, and exit 1 when a target is not met."""
    report = {"machine": {"cpu": "test cpu"}, "rerank_only_ms": {"p99": 1.25}}
    (tmp_path / "rerank.json").write_text(json.dumps(report))
    args = ("-m", "scripts.benchmarks", "targets", "--only", "rerank", "--reuse")
    done = _run(*args, "--reports", str(tmp_path), timeout=60)
    assert done.returncode == 0, done.stderr
    assert "re-ranking p99 at 1M clips" in done.stdout and "1.25" in done.stdout
    assert "<= 5 ms" in done.stdout and "+75%" in done.stdout and "pass" in done.stdout
    assert "targets: 1 met, 0 not met or not measured" in done.stdout
    report["rerank_only_ms"]["p99"] = 7.5
    (tmp_path / "rerank.json").write_text(json.dumps(report))
    done = _run(*args, "--reports", str(tmp_path), "--json", timeout=60)
    assert done.returncode == 1
    assert json.loads(done.stdout)["rows"][0]["verdict"] == "FAIL"
    done = _run("-m", "scripts.benchmarks", "targets", "--only", "nosuchrun", timeout=60)
    assert done.returncode == 1 and "no run named nosuchrun" in done.stderr
