"""HTTP measurements (part of ``python -m tests.bench``): the real ``mediatrack serve`` and a
bare FastAPI endpoint, each its own process, loaded by ``wrk`` or one sequential client.

``wrk`` (C, epoll, one thread per station) is the load generator for the scans: a Python client
driving 16 connections would take most of one of the machine's two cores itself and measure its
own speed; wrk needs a few per cent. Its Lua script (scan.lua) makes every request a new read.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from app.scans.schemas import ScanBatch
from tests.bench.bench_service import label
from tests.support.ports import free_port
from tests.support.wait import wait_for

SCRIPT = Path(__file__).with_name("scan.lua")
ROOT = Path(__file__).resolve().parents[2]


def bare_app() -> FastAPI:
    """The floor the scan endpoint is compared with: FastAPI validating the same body (the
    same pydantic model, in a sync endpoint like the real one) and answering a constant."""
    app = FastAPI()

    @app.post("/api/v1/scans")
    def post_scans(batch: ScanBatch) -> dict[str, bool]:
        return {"ok": True}

    return app


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def _process(command: list[str], env: dict[str, str], log: Path) -> Iterator[tuple[str, int]]:
    """A server started with ``--port``, its URL and pid; stopped with its whole process
    group (a server with workers has children) even when the benchmark fails."""
    port = free_port()
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port)],
            # The operator's own MEDIATRACK_ settings stay out of the benchmark's servers.
            env={k: v for k, v in os.environ.items() if not k.startswith("MEDIATRACK_")} | env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(lambda: process.poll() is not None or _listening(port), 60, "the server")
        if process.poll() is not None:
            # The scratch folder goes with the run: its last lines are all that says why.
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            raise RuntimeError(f"the server exited with {process.returncode}:\n{tail}")
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def service(
    workdir: Path, url: str, secret: str, workers: int
) -> contextlib.AbstractContextManager[tuple[str, int]]:
    """``mediatrack serve [--workers N]`` on the benchmark's database, as an operator starts
    it, run from this checkout (the venv's ``mediatrack`` script may be another one's)."""
    env = {
        "MEDIATRACK_DATA_DIR": str(workdir),
        "MEDIATRACK_DATABASE_URL": url,
        "MEDIATRACK_SECRET_KEY": secret,
        # A load generator, not a station: each station's read budget would measure 429s.
        "MEDIATRACK_STATION_READS_PER_SECOND": "1000000000",
    }
    command = [sys.executable, "-c", "from app.cli import main; main()", "serve",
               "--workers", str(workers)]
    return _process(command, env, workdir / "service.log")


def bare(workdir: Path) -> contextlib.AbstractContextManager[tuple[str, int]]:
    """The bare endpoint under uvicorn with serve's log level (access lines included)."""
    command = [sys.executable, "-m", "uvicorn", "--factory", f"{__name__}:bare_app",
               "--log-level", "info"]
    return _process(command, {}, workdir / "bare.log")


def wrk(base: str, *, keys: list[str], carriers: int, seconds: float) -> dict[str, float]:
    """``len(keys)`` stations posting single-read scans as fast as answered, one connection
    each: requests per second and latency percentiles (ms)."""
    stations = len(keys)
    completed = subprocess.run(
        ["wrk", "-t", str(stations), "-c", str(stations), "-d", f"{seconds:.0f}s",
         "--timeout", "10s", "-s", str(SCRIPT), f"{base}/api/v1/scans"],
        env={**os.environ, "MT_BENCH_KEYS": ",".join(keys), "MT_BENCH_CARRIERS": str(carriers),
             "MT_BENCH_RUN": str(random.randrange(1, 2**31))},
        capture_output=True, text=True, check=True,
    )
    line = next(x for x in completed.stdout.splitlines() if x.startswith("MTBENCH "))
    figures: dict[str, float] = json.loads(line.removeprefix("MTBENCH "))
    figures["per_s"] = figures["requests"] / figures["seconds"]
    if figures["non_2xx"] or figures["socket_errors"]:
        print(f"  WARNING: {figures['non_2xx']:.0f} answers not 2xx, "
              f"{figures['socket_errors']:.0f} socket errors", flush=True)
    return figures


def custody(base: str, token: str, *, carriers: int, pairs: int) -> dict[str, list[float]]:
    """Milliseconds of each check-out and return through HTTP, one clerk after the other, on
    carriers in storage spread over the archive."""
    picks = [n for n in ((i * 7919) % carriers + 1 for i in range(pairs * 2)) if n % 50][:pairs]
    times: dict[str, list[float]] = {"check-out": [], "return": []}
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        for n in picks:
            for name, path, body in (
                ("check-out", "checkout", {"borrower_id": 1, "purpose": "TREAT"}),
                ("return", "return", None),
            ):
                t0 = time.perf_counter()
                answer = client.post(f"/api/v1/carriers/{label(n)}/{path}", json=body)
                times[name].append((time.perf_counter() - t0) * 1000)
                answer.raise_for_status()
    return times


def memory(pid: int) -> dict[str, float]:
    """Resident and peak resident memory (MB, from /proc) of a process and its children."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        pids += [int(c) for c in (task / "children").read_text().split()]
    rss = hwm = 0.0
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                kib = float(value.split()[0])
                rss, hwm = (rss + kib, hwm) if name == "VmRSS" else (rss, hwm + kib)
    return {"rss_mb": rss / 1024, "hwm_mb": hwm / 1024, "processes": len(pids)}

