"""Run the operator CLI as a user would: a subprocess with its own environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from . import TEST_TAGGER_STEPS

ROOT = Path(__file__).resolve().parents[2]


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATA_DIR", "INDEX_"))}
    env.update(
        {
            "DATA_DIR": str(data_dir),
            "TAGGER_STEPS": str(TEST_TAGGER_STEPS),
            "TAGGER_MEMBERS": "1",
            **extra,
        }
    )
    return env


def run_cli(data_dir: Path, *args: str, check: bool = True, timeout_s: float = 600, **extra: str):
    """``python -m recommender ARGS`` to its end. ``timeout_s`` only guards against a hang:
    every command the tests run takes a small fraction of it on an idle 2-core machine."""
    result = subprocess.run(
        [sys.executable, "-m", "recommender", *args],
        cwd=ROOT,
        env=cli_env(data_dir, **extra),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        stdin=subprocess.DEVNULL,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def run_json(data_dir: Path, *args: str, **extra: str) -> dict:
    return json.loads(run_cli(data_dir, *args, "--json", **extra).stdout)
