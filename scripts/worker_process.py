"""A real ``python -m recommender worker`` in its own process, for tests and benchmarks:
started with an environment, waited on until it says it is ready, stopped or killed."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from recommender.config import Settings

ROOT = Path(__file__).resolve().parents[1]
READY = "listening worker"


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a worker that serves ``settings``'s queue and database (the
    test-media settings included), one job at a time unless ``extra`` says otherwise."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATA_DIR", "INDEX_"))}
    chosen = {
        "DATA_DIR": str(settings.data_dir),
        "QUEUE_URL": settings.queue_url or "",
        "QUEUE_NAME": settings.queue_name,
        "DATABASE_URL": settings.database_url or "",
        "VGGISH_MODEL": settings.vggish_model,
        "VGGISH_PCA_PARAMS": str(settings.pca_params or ""),
        "EARSHOT_TEST_ALLOW_LOOPBACK": "1" if settings.allow_test_hosts else "",
        "EARSHOT_TEST_MEDIA_BASE": settings.test_media_base or "",
        "SECTION_SECONDS": str(settings.section_seconds),
        "SECTION_COUNT": str(settings.section_count),
        "REQUEST_TIMEOUT_SECONDS": str(settings.request_timeout_s),
        "MAX_CONCURRENT_REQUESTS": "1",
    }
    return {**env, **chosen, **extra}


class ListeningWorker:
    def __init__(
        self, env: dict[str, str], name: str = "worker", command: list[str] | None = None
    ) -> None:
        self.env = env
        self.command = command or [sys.executable, "-m", "recommender", "worker"]
        self.name = name
        self.lines: list[str] = []
        self.process: subprocess.Popen[str] | None = None
        self._ready = threading.Event()

    def start(self, timeout_s: float = 120.0) -> ListeningWorker:
        self.process = subprocess.Popen(
            self.command,
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group: kill() takes its pool too
        )
        threading.Thread(target=self._read, daemon=True).start()
        if not self._ready.wait(timeout_s):
            self.kill()
            raise RuntimeError(f"{self.name} not ready in {timeout_s:.0f} s:\n{self.log}")
        return self

    def _read(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))
            if READY in line and "ready on" in line:
                self._ready.set()
        if not self._ready.is_set():
            self._ready.set()  # exited before ready: start() reports it

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def jobs_done(self) -> int:
        return sum(1 for line in self.lines if "recommender.listening.queue_worker: job " in line)

    def wait_for_log(self, text: str, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not any(text in line for line in self.lines):
            if time.monotonic() > deadline or not self.alive:
                raise RuntimeError(f"{self.name} never logged {text!r}:\n{self.log}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL to the worker and its listening processes: nothing gets to clean up."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM: running jobs go back on the queue; the worker exits."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode

    def __enter__(self) -> ListeningWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
