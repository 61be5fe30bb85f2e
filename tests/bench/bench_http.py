"""HTTP measurements (part of ``python -m tests.bench``): the real ``mediatrack serve`` and a
bare FastAPI endpoint, each its own process, loaded by ``wrk`` or one sequential client.

``wrk`` (C, epoll, one thread per station) is the load generator for the scans: a Python client
driving 16 connections would take most of one of the machine's two cores itself and measure its
own speed; wrk needs a few per cent. Its Lua script (scan.lua) makes every request a new read.

Run alone, it says where a scan's CPU goes in the service, thread by thread (the event loop, which
does the HTTP side, and the others: the group writer, which does the database work, and the
thread pool), against the bare endpoint in the same minutes:

    .venv/bin/python -m tests.bench.bench_http [--db sqlite] [--stations 1,8] [--rounds 3]
"""

from __future__ import annotations

import argparse
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
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import Engine

from app.scans.schemas import ScanBatch
from tests.bench import bench_service
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
    command = [sys.executable, "-m", "uvicorn", "--factory", "tests.bench.bench_http:bare_app",
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



def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds (user and system) each thread of a process has used so far, by thread id."""
    tick = os.sysconf("SC_CLK_TCK")
    used = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        used[int(task.name)] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return used


def arguments(prog: str, *, db: str) -> argparse.ArgumentParser:
    """The options of the HTTP benchmarks run alone (this one and bench_scan)."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--db", default=db, help="sqlite, postgres or both (sqlite,postgres)")
    parser.add_argument("--carriers", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--postgres-url", default=os.environ.get(
        "MEDIATRACK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    return parser


@dataclass(frozen=True)
class Served:
    """A seeded scratch archive with the service and the bare endpoint running on it."""

    workdir: Path
    url: str  # the database's
    engine: Engine
    base: str  # the service's
    pid: int  # the service's
    bare_base: str


@contextmanager
def served(db: str, opts: argparse.Namespace) -> Iterator[Served]:
    """``opts.carriers`` seeded in a scratch database, the service on it and the bare endpoint,
    both warmed up."""
    from tests.bench.__main__ import SECRET  # the full benchmark's, for the same service

    with bench_service.scratch_database(db, opts.postgres_url) as (workdir, url, engine):
        bench_service.seed(engine, opts.carriers)
        with service(workdir, url, SECRET, 1) as (base, pid), bare(workdir) as (bare_base, _):
            warm = [bench_service.new_station(engine, "warm")[1]]
            wrk(base, keys=warm, carriers=opts.carriers, seconds=3)
            yield Served(workdir, url, engine, base, pid, bare_base)


def main() -> None:
    parser = arguments("python -m tests.bench.bench_http", db="sqlite")
    parser.add_argument("--stations", default="1,8", help="stations at once, e.g. 1,8")
    parser.add_argument("--rounds", type=int, default=3)
    opts = parser.parse_args()
    for db in (d.strip() for d in opts.db.split(",") if d.strip()):
        with served(db, opts) as run:
            for n in (int(x) for x in opts.stations.split(",")):
                for r in range(opts.rounds):
                    keys = [bench_service.new_station(run.engine, f"s{n}r{r}n{i}")[1]
                            for i in range(n)]
                    before = thread_cpu(run.pid)
                    scans = wrk(run.base, keys=keys, carriers=opts.carriers,
                                seconds=opts.seconds)
                    after = thread_cpu(run.pid)
                    floor = wrk(run.bare_base, keys=keys, carriers=opts.carriers,
                                seconds=opts.seconds)
                    per = {t: (after[t] - before.get(t, 0.0)) * 1000 / scans["requests"]
                           for t in after}
                    loop = per.pop(run.pid, 0.0)  # the main thread runs the event loop
                    print(f"{db}, {n} station(s): {scans['per_s']:,.0f} scans/s against "
                          f"{floor['per_s']:,.0f}/s bare (ratio "
                          f"{scans['per_s'] / floor['per_s']:.2f}), p50 {scans['p50_ms']:.1f} "
                          f"ms, p99 {scans['p99_ms']:.1f} ms; CPU per scan: event loop "
                          f"{loop:.2f} ms, other threads {sum(per.values()):.2f} ms "
                          f"(the busiest {max(per.values(), default=0.0):.2f}); load average "
                          f"{os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
