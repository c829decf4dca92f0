"""Real Redis and PostgreSQL servers on 127.0.0.1, each in a throwaway folder, for the
tests and the cluster benchmark. ``scripts/install_servers.sh`` installs them (Debian's
packages); here they are found, started on a free port, and stopped with their files.

PostgreSQL refuses to run as root, so under root it runs as the ``postgres`` user that
Debian's package creates.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

INSTALL_HINT = "run scripts/install_servers.sh (Debian's redis-server and postgresql packages)"


class ServerUnavailable(RuntimeError):
    """The server is not installed here or would not start; the message says which."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerUnavailable(f"{what} exited with code {process.returncode} at start")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise ServerUnavailable(f"{what} did not listen on 127.0.0.1:{port} in {timeout_s:.0f} s")


class _Server:
    """A server process in a throwaway folder: ``start`` it (or use ``with``), ``stop``."""

    _process: subprocess.Popen | None
    _dir: tempfile.TemporaryDirectory
    stop_timeout_s = 10.0

    def start(self) -> Self:
        raise NotImplementedError  # each server starts its own way

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()  # postgres: its "smart" shutdown
            try:
                self._process.wait(self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._dir.cleanup()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class RedisServer(_Server):
    """``with RedisServer() as redis: redis.url`` is a real, empty redis-server."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServerUnavailable(f"redis-server is not installed; {INSTALL_HINT}")
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = tempfile.TemporaryDirectory(prefix="earshot-redis-")
        self._process: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        self._process = subprocess.Popen(
            [
                self.binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                self._dir.name,
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_port(self.port, self._process, "redis-server", 10.0)
        return self


def postgres_bin() -> Path:
    """The folder of ``postgres`` and ``initdb`` (Debian keeps them off PATH)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=os.path.getmtime)
    if versions:
        return Path(versions[-1]).parent
    raise ServerUnavailable(f"PostgreSQL's initdb is not installed; {INSTALL_HINT}")


class PostgresServer(_Server):
    """``with PostgresServer() as pg: pg.url`` is a real PostgreSQL with an empty
    ``earshot`` database, owned by user ``earshot`` (password ``earshot``)."""

    USER = "earshot"
    stop_timeout_s = 20.0

    def __init__(self, tls: tuple[bytes, bytes] | None = None) -> None:
        """``tls``: a certificate chain and its private key (PEM) to serve TLS with."""
        self.tls = tls
        self.bin = postgres_bin()
        self.port = free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="earshot-postgres-")
        self.data = Path(self._dir.name) / "data"
        self._run_as: str | None = None
        if os.geteuid() == 0:
            if shutil.which("runuser") is None:
                raise ServerUnavailable("running as root without runuser to drop to postgres")
            try:
                import pwd

                pwd.getpwnam("postgres")
            except KeyError as exc:
                raise ServerUnavailable(
                    f"running as root and no 'postgres' user exists; {INSTALL_HINT}"
                ) from exc
            self._run_as = "postgres"
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"postgresql://{self.USER}:{self.USER}@127.0.0.1:{self.port}/earshot"

    def _command(self, *args: str) -> list[str]:
        if self._run_as:
            return ["runuser", "-u", self._run_as, "--", *args]
        return list(args)

    def start(self) -> PostgresServer:
        folder = Path(self._dir.name)
        if self._run_as:
            shutil.chown(folder, self._run_as, self._run_as)
        password_file = folder / "password"
        password_file.write_text(self.USER + "\n")
        if self._run_as:
            shutil.chown(password_file, self._run_as, self._run_as)
        init = subprocess.run(
            self._command(
                str(self.bin / "initdb"),
                "-D",
                str(self.data),
                "-U",
                self.USER,
                "--pwfile",
                str(password_file),
                "-A",
                "scram-sha-256",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ),
            capture_output=True,
            text=True,
        )
        if init.returncode != 0:
            raise ServerUnavailable(f"initdb failed: {init.stderr.strip()[-500:]}")
        tls_options: list[str] = []
        if self.tls is not None:
            cert, key = folder / "server.crt", folder / "server.key"
            cert.write_bytes(self.tls[0])
            key.write_bytes(self.tls[1])
            key.chmod(0o600)  # postgres refuses a key others can read
            for path in (cert, key):
                if self._run_as:
                    shutil.chown(path, self._run_as, self._run_as)
            tls_options = ["-c", "ssl=on", "-c", f"ssl_cert_file={cert}"]
            tls_options += ["-c", f"ssl_key_file={key}"]
        self._options = tls_options
        self._launch()
        self._create_database()
        return self

    def restart(self, down_s: float = 0.0) -> None:
        """What an operator's ``pg_ctl restart`` does: a fast shutdown (every session
        ended), ``down_s`` with no server, then the same server on the same data."""
        assert self._process is not None
        subprocess.run(  # pg_ctl signals the server itself (runuser would not pass it on)
            self._command(str(self.bin / "pg_ctl"), "stop", "-D", str(self.data), "-m", "fast"),
            capture_output=True,
            check=True,
            timeout=self.stop_timeout_s,
        )
        self._process.wait(self.stop_timeout_s)
        time.sleep(down_s)
        self._launch()

    def _launch(self) -> None:
        folder = Path(self._dir.name)
        self._process = subprocess.Popen(
            self._command(
                str(self.bin / "postgres"),
                *self._options,
                "-D",
                str(self.data),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-k",
                str(folder),  # its Unix socket stays in the throwaway folder
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_port(self.port, self._process, "postgres", 30.0)

    def _create_database(self) -> None:
        deadline = time.monotonic() + 20
        while True:
            made = subprocess.run(
                self._command(
                    str(self.bin / "createdb") if (self.bin / "createdb").exists() else "createdb",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-U",
                    self.USER,
                    "earshot",
                ),
                capture_output=True,
                text=True,
                env={**os.environ, "PGPASSWORD": self.USER},
            )
            if made.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise ServerUnavailable(f"createdb failed: {made.stderr.strip()[-500:]}")
            time.sleep(0.2)  # "the database system is starting up"
