"""`mediatrack serve` as a process of its own on a test's database, as an operator runs it:
started, killed with SIGKILL at any moment, started again on the same database. With
``workers`` > 1 (PostgreSQL) the kill takes the whole process group: the workers too."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from types import TracebackType

import httpx

from app.core.config import Settings
from tests.support.cli import MEDIATRACK, cli_env
from tests.support.ports import free_port
from tests.support.wait import wait_for


class ServiceProcess:
    """One `mediatrack serve` at a time on ``settings``' database; ``base`` is its address.

    Each start takes a new port, so a client still holding the killed process's address gets a
    refused connection, never an answer from its successor."""

    def __init__(self, settings: Settings, folder: Path, *, workers: int = 1,
                 log_name: str = "serve.log") -> None:
        # The drill's stations post as fast as they can: no read budget holds them back.
        self.env = cli_env(folder, DATABASE_URL=settings.database_url,
                           SECRET_KEY=settings.secret_key,
                           STATION_READS_PER_SECOND="1000000000")
        # A file, not a pipe: nobody reads a pipe while it fills.
        self.log = folder / log_name
        self.workers = workers
        self.process: subprocess.Popen[bytes] | None = None
        self.base = ""

    def start(self, timeout: float = 60) -> str:
        """Start the service and wait until it answers; its address."""
        assert self.process is None, "the service is already running"
        port = free_port()
        with self.log.open("ab") as out:
            # A session of its own: one SIGKILL to the group reaches every worker.
            process = subprocess.Popen([*MEDIATRACK, "serve", "--port", str(port),
                                        "--workers", str(self.workers)],
                                       env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        self.process, self.base = process, f"http://127.0.0.1:{port}"

        def up() -> bool:
            assert process.poll() is None, f"mediatrack serve exited: {self.log.read_text()}"
            try:
                return httpx.get(f"{self.base}/openapi.json", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(up, timeout, "mediatrack serve to answer")
        return self.base

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, whatever was in flight is cut where it stood."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None

    @property
    def port(self) -> int:
        return int(self.base.rsplit(":", 1)[1])

    def __enter__(self) -> ServiceProcess:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.kill()
