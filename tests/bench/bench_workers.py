"""Workers benchmark: single-read scans through `mediatrack serve --workers N` on PostgreSQL.

    .venv/bin/python -m tests.bench.bench_workers [--carriers 10000] [--stations 8]
        [--seconds 10] [--workers 1,2]

Seeds a fresh PostgreSQL database (the service benchmark's bulk seed), then for each worker
count starts the real command as an operator would, and lets ``--stations`` clients (threads of
this process, one kept-alive connection each) post single-read scans for ``--seconds``. Every
scan is answered after its commit. Prints scans per second and the answers' median and p99.
The clients run on the same machine as the service and take CPU from it: on two cores the
figures say how the service scales beside its load, not alone. Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime

import httpx

from tests.bench.bench_service import pct, scratch_database, seed, uid
from tests.support.ports import free_port
from tests.support.wait import wait_for

POSTGRES_URL = os.environ.get(
    "MEDIATRACK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def run(url: str, key: str, carriers: int, workers: int, stations: int, seconds: float,
        data_dir: str) -> tuple[float, float, float]:
    """Scans per second, median and p99 in ms, with ``workers`` processes serving."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIATRACK_")}
    env |= {"MEDIATRACK_DATABASE_URL": url, "MEDIATRACK_SECRET_KEY": "b" * 40,
            "MEDIATRACK_DATA_DIR": data_dir}
    server = subprocess.Popen(
        [sys.executable, "-c", "from app.cli import main; main()", "serve", "--port", str(port),
         "--workers", str(workers)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    seqs = itertools.count(1)
    samples: list[float] = []
    stop = threading.Event()

    def station(n: int) -> None:
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=60) as client:
            for i in itertools.count():
                if stop.is_set():
                    return
                read = {"event_id": str(uuid.uuid4()), "station_seq": next(seqs),
                        "tag_uid": uid((n * 7919 + i * 104729) % carriers + 1),
                        "technology": "iso14443a", "read_at": datetime.now(UTC).isoformat()}
                t0 = time.perf_counter()
                client.post("/api/v1/scans", json={"reads": [read]}).raise_for_status()
                samples.append((time.perf_counter() - t0) * 1000)

    try:
        wait_for(lambda: _answers(base), 60, "mediatrack serve to answer")
        # Every worker started: warm each process's pool and caches for a second first.
        threads = [threading.Thread(target=station, args=(n,)) for n in range(stations)]
        for thread in threads:
            thread.start()
        stop.wait(1.0)
        samples.clear()
        t0 = time.perf_counter()
        stop.wait(seconds)
        stop.set()
        elapsed = time.perf_counter() - t0
        for thread in threads:
            thread.join()
    finally:
        server.terminate()
        server.wait(timeout=30)
    return len(samples) / elapsed, statistics.median(samples), pct(samples, 0.99)


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/login", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--carriers", type=int, default=10_000)
    parser.add_argument("--stations", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    with scratch_database("postgres", POSTGRES_URL) as (workdir, url, engine):
        _, key = seed(engine, args.carriers)
        print(f"| workers | scans/s | median ms | p99 ms |  ({args.stations} stations, "
              f"{args.carriers:,} carriers, PostgreSQL)")
        print("|---|---|---|---|")
        for workers in (int(n) for n in args.workers.split(",")):
            rate, median, p99 = run(url, key, args.carriers, workers, args.stations,
                                    args.seconds, str(workdir))
            print(f"| {workers} | {rate:.0f} | {median:.1f} | {p99:.1f} |", flush=True)


if __name__ == "__main__":
    main()
