"""Run the real bot (``python -m bot``) against the fake Discord API, as a process."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from scripts.standins import TEST_TAGGER_STEPS
from scripts.standins.cli import ROOT
from scripts.standins.discord_api import FakeDiscord

TOKEN = "OTAwMDAwMDAwMDAwMDAwMDAx.GAbcde.abcdefghijklmnopqrstuvwxyz0123"


def shard_ids_of(raw: str) -> list[int]:
    """SHARD_IDS as the bot reads it: "0,1" or "2-3"."""
    ids: list[int] = []
    for part in raw.replace(" ", "").split(","):
        low, _, high = part.partition("-")
        ids.extend(range(int(low), int(high or low) + 1))
    return ids


class BotProcess:
    """``python -m bot`` with ``env`` on top of this process's environment (DISCORD_*,
    DATA_DIR and SHARD_* are never inherited). With SHARD_COUNT and SHARD_IDS in ``env``,
    it runs those shards only, and ``start`` waits until each of them has identified."""

    def __init__(self, discord: FakeDiscord, data: Path, log: Path, **env: str) -> None:
        self.discord = discord
        self.env = {
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("DISCORD_", "DATA_DIR", "SHARD_"))
            },
            "DISCORD_TOKEN": TOKEN,
            "DISCORD_API_BASE": discord.api_base,
            "DISCORD_GATEWAY_URL": discord.gateway_url,
            "EARSHOT_TEST_DISCORD_CDN": discord.cdn_base,  # members' attachments
            "DATA_DIR": str(data),
            "SYNC_COMMANDS": str(discord.guild_id),
            "RECOMMEND_COOLDOWN_SECONDS": "0",
            "TAGGER_STEPS": str(TEST_TAGGER_STEPS),
            "TAGGER_MEMBERS": "1",
            **env,
        }
        self.log = log
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0

    @property
    def shard_count(self) -> int | None:
        raw = self.env.get("SHARD_COUNT", "").strip()
        return int(raw) if raw else None

    @property
    def shard_ids(self) -> list[int] | None:
        """This process's shards when SHARD_COUNT and SHARD_IDS name them, else None."""
        raw = self.env.get("SHARD_IDS", "").strip()
        if not raw or not self.shard_count:
            return None
        return shard_ids_of(raw)

    @property
    def guild_ids(self) -> list[int]:
        """The servers whose shards this process runs (all of them without SHARD_IDS)."""
        ids, count = self.shard_ids, self.shard_count
        if ids is None or count is None:
            return list(self.discord.guild_ids)
        return [g for g in self.discord.guild_ids if (g >> 22) % count in ids]

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def start(self, timeout: float = 90) -> float:
        """Start and wait until it has identified (each of its own shards, with SHARD_IDS)
        and commands are synced; returns seconds to that."""
        identifies = self.discord.identifies
        seen = len(self.discord.identified_shards)
        mine, count = self.shard_ids, self.shard_count
        self.started_at = time.monotonic()
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: kill() takes its children
            )

        def identified() -> bool:
            if mine is None:
                return self.discord.identifies > identifies
            new = {s[0] for s in self.discord.identified_shards[seen:] if s[1] == count}
            return set(mine) <= new

        self.discord.wait_for(
            lambda: (
                (identified() and self.discord.commands) or self.process.poll() is not None  # type: ignore[union-attr]
            ),
            timeout,
            "the bot to log in",
        )
        if self.process.poll() is not None:
            raise AssertionError(f"the bot exited:\n{self.log_text()[-3000:]}")
        elapsed = time.monotonic() - self.started_at
        time.sleep(0.5)  # READY and GUILD_CREATE are processed in order before interactions
        return elapsed

    def stop(self) -> int:
        """SIGTERM, and its exit code (SIGKILL after 45 s: the bot's own bound is 30 s,
        after which it logs where it waited; the log's end is printed then)."""
        if self.process is None:
            return 0
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(45)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(10)
            print(
                f"the bot did not stop; its log ends:\n{self.log_text()[-8000:]}", file=sys.stderr
            )
        if code != 0:
            print(
                f"the bot stopped with {code}; its log ends:\n{self.log_text()[-8000:]}",
                file=sys.stderr,
            )
        self.process = None
        return code

    def kill(self) -> None:
        """SIGKILL to the bot and any child it started (a rebuild, listening workers):
        nothing gets to clean up or say goodbye to the gateway."""
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self.process = None
