"""Where one station's sequential scan spends its time, and what the ratio goal leaves for it:

    .venv/bin/python -m tests.bench.bench_scan [--db sqlite,postgres] [--carriers 10000]

One station posting one read at a time waits for each answer, so a scan's time is the sum of its
parts. This measures them in one run, on one seeded archive:

- the bare endpoint and the service through HTTP, one connection each (``wrk``, as bench_http):
  milliseconds a request;
- in process, the scan's database work as the group writer runs it for a lone station
  (``scans.service.ingest_together`` in the writer's session) and its durable commit apart;
- on SQLite, the pages a scan's commit writes to the WAL (measured with checkpoints held off).

A ratio of 0.5 allows a scan twice the bare endpoint's time: the durable commit, the scan's
work and everything the service adds over the bare endpoint on the HTTP side share one bare
endpoint's time. docs/performance.md has the figures.
"""

from __future__ import annotations

import itertools
import os
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlmodel import Session

from app.core.db import make_engine
from app.scans import service as scan_service
from tests.bench import bench_http, bench_service
from tests.bench.bench_service import pct
from tests.factories import site_today

RUNS = 2000
WAL_FRAME = 4096 + 24  # a page and its frame header (sqlite.org/fileformat2.html, "WAL file")


def in_process(engine: Engine, carriers: int, runs: int) -> dict[str, list[float]]:
    """Milliseconds of each lone scan's work and of its commit, on carriers spread over the
    archive (after 100 scans to warm the caches)."""
    principal, _ = bench_service.new_station(engine, f"floor-{uuid.uuid4().hex[:8]}")
    seq = itertools.count(1)
    today = site_today()
    times: dict[str, list[float]] = {"work": [], "commit": []}
    for i in range(runs + 100):
        read = bench_service.new_read(next(seq), (i * 7919) % carriers + 1)
        with Session(engine, expire_on_commit=False) as session:  # as the group writer's
            t0 = time.perf_counter()
            scan_service.ingest_together(session, [(principal, [read], today)])
            t1 = time.perf_counter()
            session.commit()
            t2 = time.perf_counter()
        if i >= 100:
            times["work"].append((t1 - t0) * 1000)
            times["commit"].append((t2 - t1) * 1000)
    return times


def wal_pages(url: str, database: Path, carriers: int, runs: int = 200) -> float:
    """Pages a lone scan's commit appends to the WAL, on average: the WAL's growth over
    ``runs`` scans on an engine whose connections never checkpoint."""
    engine = make_engine(url)

    @event.listens_for(engine, "connect")
    def _no_checkpoints(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA wal_autocheckpoint=0")

    wal = database.with_name(database.name + "-wal")
    try:
        in_process(engine, carriers, 0)  # opens the connection, warms the caches
        before = wal.stat().st_size
        in_process(engine, carriers, runs)
        return (wal.stat().st_size - before) / WAL_FRAME / (runs + 100)
    finally:
        engine.dispose()


def report(db: str, parts: dict[str, float]) -> None:
    def say(line: str) -> None:
        print(f"{db}: {line}", flush=True)

    bare, scan = parts["bare_ms"], parts["service_ms"]
    say(f"one station through HTTP: bare endpoint {bare:.2f} ms a request, service "
        f"{scan:.2f} ms a scan (ratio {bare / scan:.2f})")
    say(f"in process: the scan's work p50 {parts['work_p50']:.2f} ms (p99 "
        f"{parts['work_p99']:.2f}), its commit p50 {parts['commit_p50']:.2f} ms (p99 "
        f"{parts['commit_p99']:.2f})" + (f"; {parts['pages']:.1f} WAL pages a commit"
                                           if "pages" in parts else ""))
    rest = scan - bare - parts["work_p50"] - parts["commit_p50"]
    say(f"the rest (HTTP side over the bare endpoint, thread hand-offs): {rest:.2f} ms")
    say(f"a ratio of 0.5 leaves {bare:.2f} ms for work, commit and rest together; with the "
        f"commit alone the ratio would be at most {bare / (bare + parts['commit_p50']):.2f} "
        f"(load average {os.getloadavg()[0]:.1f})")


def main() -> None:
    parser = bench_http.arguments("python -m tests.bench.bench_scan", db="sqlite,postgres")
    opts = parser.parse_args()
    for db in (d.strip() for d in opts.db.split(",") if d.strip()):
        with bench_http.served(db, opts) as run:
            key = [bench_service.new_station(run.engine, "one")[1]]
            scans = bench_http.wrk(run.base, keys=key, carriers=opts.carriers,
                                   seconds=opts.seconds)
            floor = bench_http.wrk(run.bare_base, keys=key, carriers=opts.carriers,
                                   seconds=opts.seconds)
            times = in_process(run.engine, opts.carriers, RUNS)
            parts = {
                "bare_ms": 1000 / floor["per_s"],
                "service_ms": 1000 / scans["per_s"],
                **{f"{k}_p50": pct(v, 0.5) for k, v in times.items()},
                **{f"{k}_p99": pct(v, 0.99) for k, v in times.items()},
            }
            if db == "sqlite":
                parts["pages"] = wal_pages(run.url, run.workdir / "bench.db", opts.carriers)
        report(db, parts)


if __name__ == "__main__":
    main()
