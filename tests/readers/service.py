"""The real MediaTrack service, run as ``mediatrack serve`` on a temp SQLite database."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from tests.support.ports import free_port
from tests.support.real import unavailable
from tests.support.wait import wait_for

LOCATION = "ARCHIVE"


class Service:
    def __init__(self) -> None:
        cli = Path(sys.executable).parent / "mediatrack"
        if not cli.exists():
            unavailable("the mediatrack command is not installed (pip install -e .)")
        self.cli = str(cli)
        self.root = Path(tempfile.mkdtemp(prefix="mt-service-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "MEDIATRACK_DATA_DIR": str(self.root / "data"),
            "MEDIATRACK_DATABASE_URL": f"sqlite:///{self.root / 'mediatrack.db'}",
            "MEDIATRACK_PUBLIC_URL": self.url,
        }
        self.log = self.root / "serve.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.run("db", "upgrade")
        self.run("location", "add", LOCATION, "--name", "Archive", "--kind", "site")
        self._stations = 0

    def run(self, *args: str) -> str:
        done = subprocess.run([self.cli, *args], env=self.env, capture_output=True, text=True,
                              timeout=60)
        if done.returncode:
            raise AssertionError(f"mediatrack {' '.join(args)} failed: {done.stderr}")
        return done.stdout

    def new_station(self) -> str:
        """A fresh station (its own sequence numbers); returns its API key."""
        self._stations += 1
        out = self.run("station", "create", f"desk{self._stations}", "--location", LOCATION)
        return out.strip().splitlines()[-1]

    def register(self, label: str, kind: str = "DVD") -> None:
        self.run("carrier", "register", label, "--kind", kind, "--location", LOCATION)

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [self.cli, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )
        wait_for(self._answers, 30, "mediatrack serve to answer")

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"mediatrack serve exited: {self.log.read_text()[-2000:]}")
        try:
            httpx.get(f"{self.url}/api/v1/carriers/NONE", timeout=1)
        except httpx.TransportError:
            return False
        return True

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)
        self.process = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def recorded_seqs(self, api_key: str, upto: int) -> list[tuple[int, str]]:
        """Which station sequence numbers 1..upto the server holds, with their event ids.

        Asked through the API's own idempotency rule: a read whose (station, station_seq) is
        already recorded answers ``replayed`` with the first event's id. Probing a free
        number records it, so call this only at the end of a test.
        """
        import uuid

        reads = [
            {"event_id": str(uuid.uuid4()), "station_seq": seq, "tag_uid": "04FFFFFFFFFFFF",
             "technology": "iso14443a", "read_at": "2026-01-01T00:00:00+00:00"}
            for seq in range(1, upto + 1)
        ]
        answer = httpx.post(f"{self.url}/api/v1/scans", json={"reads": reads},
                            headers={"X-API-Key": api_key}, timeout=30)
        answer.raise_for_status()
        return [(r["station_seq"], r["event_id"]) for r in answer.json()["results"]
                if r["replayed"]]
