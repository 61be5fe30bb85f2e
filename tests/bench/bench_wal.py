"""What SQLite's automatic checkpoint costs a commit, and what the checkpoint thread leaves:

    .venv/bin/python -m tests.bench.bench_wal [--carriers 10000] [--events 0] [--phases 6]

Lone scans in process, as the group writer runs them (``bench_scan.in_process``: the work, then
its commit, after 100 scans to warm the caches), in alternating phases of 2,000 on one archive:
SQLite's default (a commit copies the WAL back once it is over 1,000 pages) and the serving
process's way (a thread copies it back every second, ``app.core.wal``). Each phase of the thread
ends with a checkpoint, so every phase begins with the WAL copied back. ``--events`` seeds the
log first (bench_audit). docs/performance.md has the figures.
"""

from __future__ import annotations

import argparse
from typing import Any

from sqlalchemy import Engine, event

from app.core.db import make_engine
from app.core.wal import WalCheckpointer
from tests.bench import bench_audit, bench_scan, bench_service
from tests.bench.bench_service import pct

PHASE = 2000
SQLITE_DEFAULT_PAGES = 1000  # sqlite.org/pragma.html#pragma_wal_autocheckpoint


def _sqlite_default(url: str) -> Engine:
    engine = make_engine(url)

    @event.listens_for(engine, "connect")
    def _default(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute(f"PRAGMA wal_autocheckpoint={SQLITE_DEFAULT_PAGES}")

    return engine


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bench_wal")
    parser.add_argument("--carriers", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=0)
    parser.add_argument("--phases", type=int, default=6, help="of each way, after a warm-up")
    opts = parser.parse_args()
    # A SQLite scratch database; the PostgreSQL URL is only parsed (no server is used).
    postgres = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    with bench_service.scratch_database("sqlite", postgres) as (_, url, seeding):
        bench_service.seed(seeding, opts.carriers)
        if opts.events:
            bench_audit.seed_events(seeding, opts.events)
        seeding.dispose()
        engines = {"default": _sqlite_default(url), "thread": make_engine(url)}
        thread = WalCheckpointer(engines["thread"])
        times: dict[str, dict[str, list[float]]] = {
            way: {"work": [], "commit": []} for way in engines
        }
        for phase in range(opts.phases + 1):
            for way, engine in engines.items():
                if way == "thread":
                    thread.start()
                phase_times = bench_scan.in_process(engine, opts.carriers, PHASE)
                if way == "thread":
                    thread.stop()
                    thread.run_once()
                if phase:  # the first phase of each warms the caches
                    for part, samples in phase_times.items():
                        times[way][part] += samples
        for engine in engines.values():
            engine.dispose()
    for way, parts in times.items():
        work, commit = parts["work"], parts["commit"]
        print(f"{way:>7}, {opts.events:,} events: commit p50 {pct(commit, 0.5):.2f} ms, p99 "
              f"{pct(commit, 0.99):.2f}, largest {max(commit):.1f}; work p50 "
              f"{pct(work, 0.5):.2f} ms, p99 {pct(work, 0.99):.2f}", flush=True)


if __name__ == "__main__":
    main()
