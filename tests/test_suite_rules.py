"""Rules of the suite itself: under CI=true, a missing AudioSet sample fails the run
(locally it skips, with the reason), so a green CI always ran every test."""

from __future__ import annotations

import os
import subprocess
import sys

from scripts.standins.cli import ROOT


def _run_audioset_tests(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            "tests/test_audioset.py",
        ],
        cwd=ROOT,
        env={**os.environ, "EARSHOT_AUDIOSET_SAMPLE": "/nonexistent/audioset", **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_missing_sample_fails_under_ci_and_skips_locally() -> None:
    ci = _run_audioset_tests(CI="true")
    assert ci.returncode == 1, ci.stdout
    assert "CI=true: the shared AudioSet sample is not at /nonexistent/audioset" in ci.stdout
    local = _run_audioset_tests(CI="")
    assert local.returncode == 0, local.stdout
    assert "SKIPPED" in local.stdout and "not at /nonexistent/audioset" in local.stdout
