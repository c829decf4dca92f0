"""The README's first command, ``bash scripts/start.sh``, run for real: it shows the
doctor's table before the bot starts, and refuses to start on a failed check, naming it.
(YTDLP_AUTO_UPDATE=false: the tests run on the pinned yt-dlp.)"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from scripts.standins.bot_process import BotProcess
from scripts.standins.cli import ROOT
from scripts.standins.discord_api import FakeDiscord


@pytest.fixture()
def deployment(built_catalog: Path, tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(built_catalog, data)
    return data


def _env(discord: FakeDiscord, data: Path, model: Path, pca: Path, **extra: str) -> dict:
    env = BotProcess(discord, data, data / "unused.log").env
    env.update(
        {
            "VGGISH_MODEL": str(model),
            "VGGISH_PCA_PARAMS": str(pca),
            "YTDLP_AUTO_UPDATE": "false",
            "YTDLP_JS_RUNTIME": "",
            **extra,
        }
    )
    return env


def test_start_shows_the_doctor_then_serves(
    deployment: Path, fake_vggish: Path, pca_params: Path, tmp_path: Path
) -> None:
    log = tmp_path / "start.log"
    with FakeDiscord() as discord, open(log, "wb") as out:
        env = _env(discord, deployment, fake_vggish, pca_params)
        process = subprocess.Popen(
            ["bash", "scripts/start.sh"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            discord.wait_for(
                lambda: "ready as" in log.read_text() or process.poll() is not None,
                300,
                "the bot to be ready",
            )
        finally:
            process.send_signal(signal.SIGTERM)  # start.sh exec'd the bot: this reaches it
            try:
                code = process.wait(90)  # the bot's own bound is 30 s, then it shows its stacks
            except subprocess.TimeoutExpired:
                process.kill()
                pytest.fail("the bot did not stop:\n" + log.read_text()[-6000:])
    text = log.read_text()
    assert code == 0, text[-3000:]
    assert "auto-update is off (YTDLP_AUTO_UPDATE)" in text
    doctor = text.index("checking the deployment")
    assert text.index("all checks passed", doctor) < text.index("ready as")
    for line in ("ok    yt-dlp", "ok    VGGish model", "ok    invite link"):
        assert line in text
    assert env["DISCORD_TOKEN"] not in text


def test_start_refuses_on_a_failed_check_and_names_it(
    deployment: Path, fake_vggish: Path, pca_params: Path, tmp_path: Path
) -> None:
    with FakeDiscord() as discord:
        env = _env(
            discord,
            deployment,
            fake_vggish,
            pca_params,
            YTDLP_JS_RUNTIME=f"deno:{tmp_path / 'no-deno'}",
        )
        done = subprocess.run(
            ["bash", "scripts/start.sh"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )
        assert discord.identifies == 0  # the bot never started
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL  yt-dlp" in done.stdout
    assert "earshot will not start: the doctor's check failed: yt-dlp." in done.stderr


def test_the_first_start_makes_a_dotenv_for_this_user_alone(tmp_path: Path) -> None:
    """.env will hold the bot's token: start.sh creates it 0600."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "start.sh", tmp_path / "scripts" / "start.sh")
    shutil.copy(ROOT / ".env.example", tmp_path / ".env.example")
    (tmp_path / "scripts" / "bootstrap.sh").write_text("exit 0\n")  # installs nothing here
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
    result = subprocess.run(
        ["bash", "scripts/start.sh"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 2 and "put your bot token in DISCORD_TOKEN" in result.stderr
    assert (tmp_path / ".env").stat().st_mode & 0o777 == 0o600
