"""Audit benchmark: `mediatrack audit verify` over a large custody log.

    .venv/bin/python -m tests.bench.bench_audit [--events 10000000] [--db sqlite|postgres]

Seeds a fresh database with N chained custody events (bulk inserts, hashed by the append path's
own functions), then runs the verification the CLI runs (``audit_service.verify`` in one
session) in a fresh process, and prints events per second and the peak resident memory the
verification added. ``seed_events`` and ``measure_verify`` are also called by the one benchmark
command. Nothing here is asserted by a test.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import queue
import resource
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, update

from app.audit import verifier
from app.audit.chain import ENTRY_FIELDS, GENESIS, canonical_json, stored_entry_text
from app.audit.models import CustodyEvent, LogHead
from app.core.db import make_engine, session_scope
from tests.bench.bench_service import scratch_database

CHUNK = 50_000
# What a busy archive's log mostly holds: scans of carriers by stations, with now and then a
# member of staff's custody change (the payloads are shaped like the services' own).
ACTIONS = ("seen",) * 8 + ("check_out", "return")


def _events(n: int) -> Iterator[dict[str, Any]]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for seq in range(1, n + 1):
        action = ACTIONS[seq % len(ACTIONS)]
        carrier = seq * 7919 % 1_000_000 + 1
        at = start + timedelta(milliseconds=seq * 37)
        by_station = action == "seen"
        yield {
            "seq": seq,
            "recorded_at": at,
            "action": action,
            "actor_kind": "station" if by_station else "user",
            "actor_id": seq % 40 + 1,
            "actor_role": "station" if by_station else "clerk",
            "station_id": seq % 40 + 1 if by_station else None,
            "carrier_id": carrier,
            "location_id": seq % 300 + 1,
            "payload": canonical_json(
                {
                    "label": f"RAD{carrier:09d}",
                    "event_id": str(uuid.UUID(int=seq * 104729)),
                    "station_seq": seq // 40,
                    "read_at": at.isoformat(),
                }
                if by_station
                else {"label": f"RAD{carrier:09d}", "borrower": "Dr Wang", "purpose": "TREAT"}
            ),
        }


def seed_events(engine: Engine, n: int) -> None:
    """Append n chained events to an empty, migrated log, in bulk, printing progress."""
    started = time.perf_counter()
    prev = GENESIS
    chunk: list[dict[str, Any]] = []

    def flush() -> None:
        with engine.begin() as conn:
            conn.execute(insert(CustodyEvent), chunk)
        took = time.perf_counter() - started
        print(f"  seeded {chunk[-1]['seq']:,} events ({took:.0f} s)", flush=True)
        chunk.clear()

    for row in _events(n):
        row["prev_hash"] = prev
        # The verifier's fast text, for speed: tests/app/audit/test_chain.py holds it to the
        # definition (canonical_json of entry_document), which append uses.
        text = stored_entry_text(*(row[k] for k in ENTRY_FIELDS))
        assert text is not None
        leaf = hashlib.sha256(b"\x00" + text.encode()).digest()
        prev = row["hash"] = hashlib.sha256(bytes.fromhex(prev) + leaf).hexdigest()
        chunk.append(row)
        if len(chunk) == CHUNK:
            flush()
    if chunk:
        flush()
    with engine.begin() as conn:
        if conn.execute(update(LogHead).values(seq=n, hash=prev)).rowcount == 0:
            conn.execute(insert(LogHead).values(id=1, seq=n, hash=prev))


def _rss_kib(pid: int) -> int:
    """Resident memory of the process and of every process it started, in KiB."""
    try:
        with open(f"/proc/{pid}/status") as status:
            own = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        children: list[int] = []
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as listed:
                children += [int(child) for child in listed.read().split()]
    except (OSError, StopIteration):
        return 0
    return own + sum(_rss_kib(child) for child in children)


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _verify_in_child(url: str, split_from: int | None, results: Any) -> None:
    from app.audit import service as audit_service
    from app.audit import verifier

    if split_from is not None:
        verifier.SPLIT_FROM = split_from

    engine = make_engine(url)
    results.put(_rss_kib(os.getpid()))
    t0, cpu0 = time.perf_counter(), _cpu_seconds()
    with session_scope(engine) as session:
        report = audit_service.verify(session)
    seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
    engine.dispose()
    results.put({"ok": report.ok, "events": report.size, "seconds": seconds, "cpu": cpu})


def measure_verify(engine: Engine, *, split_from: int | None = None) -> dict[str, Any]:
    """Verify the whole log as the CLI does (``audit_service.verify`` in one transaction) in a
    fresh process, sampling its memory and its second process's every 20 ms: events, wall and
    CPU seconds (both processes), events per second, and the peak resident memory of the two
    above what the fresh process held before it began (MiB). ``split_from``: the log size from
    which verify uses a second process, if not the shipped one (to compare the two ways)."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    url = engine.url.render_as_string(hide_password=False)
    child = context.Process(target=_verify_in_child, args=(url, split_from, results))
    child.start()
    before: int = results.get()
    peak = before
    while True:
        try:
            found: dict[str, Any] = results.get(timeout=0.02)
            break
        except queue.Empty:
            peak = max(peak, _rss_kib(child.pid or 0))
    child.join()
    return {
        "ok": found["ok"],
        "events": found["events"],
        "seconds": round(found["seconds"], 2),
        "cpu_seconds": round(found["cpu"], 2),
        "events_per_s": round(found["events"] / found["seconds"]),
        "peak_rss_delta_mib": round((peak - before) / 1024, 1),
        "load_average": round(os.getloadavg()[0], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    with scratch_database(args.db, args.postgres_url) as (_workdir, _url, engine):
        print(f"Seeding {args.events:,} events on {args.db} ...", flush=True)
        t0 = time.perf_counter()
        seed_events(engine, args.events)
        print(f"Seeded in {time.perf_counter() - t0:.0f} s", flush=True)
        for run in range(1, args.runs + 1):
            print(f"verify run {run}: {measure_verify(engine)}", flush=True)
        if args.events >= verifier.SPLIT_FROM:
            print(f"one process: {measure_verify(engine, split_from=args.events + 1)}", flush=True)


if __name__ == "__main__":
    main()
