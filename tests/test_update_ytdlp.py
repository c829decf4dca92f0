"""scripts/update_ytdlp.sh, which start.sh runs at each start, against a real package
index on 127.0.0.1 and a real venv: it upgrades to the newest release and says so, says
when there is none newer, and keeps the installed version when the index cannot be
reached. The wheels are tiny stand-ins named yt-dlp, so the project's own venv (and its
pinned yt-dlp) is never touched."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from scripts.standins.cli import ROOT
from scripts.standins.http_range import RangeServer

OLD, NEW = "2026.1.1", "2026.2.2"


def _wheel(folder: Path, version: str) -> Path:
    files = {
        "yt_dlp/__init__.py": f"__version__ = {version!r}\n",
        "yt_dlp/__main__.py": f"print({version!r})\n",
        f"yt_dlp-{version}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: yt-dlp\nVersion: {version}\nProvides-Extra: default\n"
        ),
        f"yt_dlp-{version}.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: earshot-tests\nRoot-Is-Purelib: true\n"
            "Tag: py3-none-any\n"
        ),
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{name},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"yt_dlp-{version}.dist-info/RECORD,,")
    files[f"yt_dlp-{version}.dist-info/RECORD"] = "\n".join(record) + "\n"
    path = folder / f"yt_dlp-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for name, text in files.items():
            wheel.writestr(name, text)
    return path


def _links(root: Path, versions: list[str]) -> None:
    anchors = "".join(
        f'<a href="{_wheel(root, v).name}">{_wheel(root, v).name}</a>\n' for v in versions
    )
    (root / "links.html").write_text(f"<html><body>\n{anchors}</body></html>\n")


@pytest.fixture()
def venv(tmp_path: Path) -> Path:
    folder = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, timeout=120)
    return folder / "bin" / "python"


def _pip_env(url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=url or "http://127.0.0.1:9/links.html")
    env["PIP_DEFAULT_TIMEOUT"] = "3"
    env["PIP_RETRIES"] = "0"
    env.pop("PIP_CONSTRAINT", None)
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


def _update(python: Path, url: str | None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "scripts/update_ytdlp.sh", str(python)],
        cwd=ROOT,
        env=_pip_env(url),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_update_takes_the_newest_release_and_says_so(venv: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    index.mkdir()
    _links(index, [OLD])
    with RangeServer(index) as server:
        url = server.url("links.html")
        subprocess.run(
            [str(venv), "-m", "pip", "install", "--quiet", f"yt-dlp=={OLD}"],
            env=_pip_env(url),
            check=True,
            timeout=300,
        )
        same = _update(venv, url)
        assert same.returncode == 0 and f"yt-dlp {OLD} is the newest release" in same.stdout

        _links(index, [OLD, NEW])  # a new release is out
        newer = _update(venv, url)
        assert newer.returncode == 0, newer.stderr
        assert f"yt-dlp upgraded from {OLD} to {NEW}" in newer.stdout

    gone = _update(venv, None)  # the index cannot be reached: keep what is there
    assert gone.returncode == 0
    assert f"could not check for a newer release; keeping {NEW}" in gone.stderr
    version = subprocess.run(
        [str(venv), "-m", "yt_dlp", "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.strip() == NEW
