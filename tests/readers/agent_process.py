"""The station agent run as its own process (``mediatrack station run``), as a station runs it."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from tests.support.wait import wait_for

ROOT = Path(__file__).resolve().parents[2]


class AgentProcess:
    def __init__(self, *, reader: str, server: str, key: str, outbox: Path,
                 env: dict[str, str], extra: tuple[str, ...] = ()) -> None:
        mediatrack = [sys.executable, "-c", "from app.cli import main; main()"]
        self.argv = [*mediatrack, "station", "run", "--reader", reader,
                     "--server", server, "--outbox", str(outbox), *extra]
        self.env = {**env, "MEDIATRACK_STATION_KEY": key}
        self.lines: list[str] = []
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv, env=self.env, cwd=ROOT, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        threading.Thread(target=self._collect, args=(self.process,), daemon=True).start()
        self.wait_line("station agent:")

    def _collect(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_line(self, text: str, timeout: float = 20.0, after: int = 0) -> str:
        """The first output line from index ``after`` on that contains ``text``."""

        def found() -> str | None:
            return next((line for line in self.lines[after:] if text in line), None)

        try:
            line = wait_for(found, timeout, f"agent output {text!r}")
        except AssertionError:
            raise AssertionError(
                f"agent never printed {text!r}; it printed:\n" + "\n".join(self.lines)
            ) from None
        assert isinstance(line, str)
        return line

    def kill(self) -> None:
        """SIGKILL: no cleanup, as a power cut or the OOM killer would do it."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)
