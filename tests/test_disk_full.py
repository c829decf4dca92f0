"""Writing the index fails at the OS level (file size limit, as a full disk would)."""

from __future__ import annotations

import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from recommender.index import BUILDS, current_build
from scripts.standins.cli import ROOT, cli_env, run_json


def _limit_file_size() -> None:
    # Writes past 300 kB fail with EFBIG instead of killing the process with SIGXFSZ.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))


def test_no_space_for_the_index_keeps_the_old_one_serving(
    built_catalog: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(built_catalog, data)
    live = current_build(data / "index")
    result = subprocess.run(
        [sys.executable, "-m", "recommender", "reindex"],
        cwd=ROOT,
        env=cli_env(data),
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_limit_file_size,
    )
    assert result.returncode == 1, result.stderr
    assert "not enough disk space" in result.stderr and "old index keeps serving" in result.stderr
    assert "Traceback" not in result.stderr
    assert current_build(data / "index") == live
    assert not [p for p in (data / "index" / BUILDS).iterdir() if p.name.endswith(".partial")]
    stats = run_json(data, "stats")
    assert stats["indexed"] == stats["tracks"]
