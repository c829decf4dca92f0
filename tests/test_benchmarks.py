"""The benchmarks package: every benchmark is registered with its own options, both entry
points run it, and one small real run goes through the shared harness end to end."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from scripts.benchmarks import REGISTRY, parser
from scripts.benchmarks.harness import at_share, emit
from scripts.standins.cli import ROOT

NAMES = ("listen", "bot", "rerank", "scale", "lookups", "titles", "cluster", "sources")
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
