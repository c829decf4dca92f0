"""Run the real bot (``python -m bot``) against the fake Discord API, as a process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from scripts.standins.cli import ROOT
from scripts.standins.discord_api import FakeDiscord

TOKEN = "OTAwMDAwMDAwMDAwMDAwMDAx.GAbcde.abcdefghijklmnopqrstuvwxyz0123"


class BotProcess:
    def __init__(self, discord: FakeDiscord, data: Path, log: Path, **env: str) -> None:
        self.discord = discord
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "DATA_DIR"))},
            "DISCORD_TOKEN": TOKEN,
            "DISCORD_API_BASE": discord.api_base,
            "DISCORD_GATEWAY_URL": discord.gateway_url,
            "DATA_DIR": str(data),
            "SYNC_COMMANDS": str(discord.guild_id),
            "RECOMMEND_COOLDOWN_SECONDS": "0",
            "TAGGER_STEPS": "300",
            **env,
        }
        self.log = log
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0

    def start(self, timeout: float = 90) -> float:
        """Start and wait until it has identified and synced; returns seconds to that."""
        identifies = self.discord.identifies
        self.started_at = time.monotonic()
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.discord.wait_for(
            lambda: (
                (self.discord.identifies > identifies and self.discord.commands)
                or self.process.poll() is not None
            ),  # type: ignore[union-attr]
            timeout,
            "the bot to log in",
        )
        if self.process.poll() is not None:
            raise AssertionError(f"the bot exited:\n{self.log.read_text()[-3000:]}")
        elapsed = time.monotonic() - self.started_at
        time.sleep(0.5)  # READY and GUILD_CREATE are processed in order before interactions
        return elapsed

    def stop(self) -> int:
        if self.process is None:
            return 0
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(10)
        self.process = None
        return code
