"""Service benchmark: scan resolution, "where is it" and ingest rates at archive scale.

    .venv/bin/python -m tests.bench.bench_service [--carriers 1000000] [--db sqlite|postgres]

Seeds a fresh database with N carriers (each with a tag and a study; every 50th lent out),
then measures, each as the time of one whole committed transaction, as a request would be:

- one scan resolved and logged (service call, SQLite synchronous=FULL commit included);
- "where is it" by patient ID and by accession number (the lookup is itself logged);
- HTTP single-scan rate against a bare FastAPI endpoint on the same uvicorn, same client;
- batch ingest of inventory reads (500 per request, through HTTP).

Prints a Markdown table for docs/performance.md. Nothing here is asserted by a test.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import Engine, insert, text

from app.carriers.models import Carrier
from app.core.config import Settings
from app.core.db import make_engine, session_scope
from app.core.migrations import upgrade
from app.core.principal import Principal, Role
from app.custody.models import Loan
from app.lookup import service as lookup_service
from app.lookup.schemas import QueryKind
from app.main import create_app
from app.scans import service as scan_service
from app.scans.schemas import ScanRead
from app.stations import service as station_service
from app.stations.schemas import StationCreate
from app.studies.models import CarrierStudy, Study
from app.tags.models import Tag
from tests.support.server import serve

CHUNK = 20_000


def uid(n: int) -> str:
    return f"04{n:010X}80"


def seed(engine: Engine, carriers: int) -> tuple[Principal, str]:
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO location (id, code, name, kind, parent_id, path) VALUES "
                "(1, 'ARCH', 'Archive', 'room', NULL, 'Hospital / Archive'),"
                "(2, 'DESK', 'Desk', 'desk', 1, 'Hospital / Archive / Desk')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO borrower (id, name, kind, active) VALUES (1, 'Dr Wang', 'staff', true)"
            )
        )
    now = datetime.now(UTC).replace(tzinfo=None)
    for start in range(1, carriers + 1, CHUNK):
        ids = range(start, min(start + CHUNK, carriers + 1))
        with engine.begin() as conn:
            conn.execute(
                insert(Tag),
                [
                    {"id": n, "uid": uid(n), "technology": "iso14443a", "created_at": now}
                    for n in ids
                ],
            )
            conn.execute(
                insert(Carrier),
                [
                    {
                        "id": n,
                        "label": f"RAD{n:09d}",
                        "kind": "DVD",
                        "status": "checked_out" if n % 50 == 0 else "in_storage",
                        "home_location_id": 1,
                        "current_location_id": 1,
                        "tag_id": n,
                        "encrypted": False,
                        "legal_hold": False,
                        "created_at": now,
                    }
                    for n in ids
                ],
            )
            conn.execute(
                insert(Study),
                [
                    {
                        "id": n,
                        "study_uid": f"1.2.826.0.1.3680043.10.77.{n}",
                        "accession_number": f"A{n:09d}",
                        "patient_id": f"P{n // 3:08d}",
                        "modalities": "CT",
                        "series_count": 2,
                        "instance_count": 300,
                        "created_at": now,
                    }
                    for n in ids
                ],
            )
            conn.execute(
                insert(CarrierStudy),
                [
                    {"carrier_id": n, "study_id": n, "instance_count": 300, "linked_at": now}
                    for n in ids
                ],
            )
            lent = [n for n in ids if n % 50 == 0]
            if lent:
                conn.execute(
                    insert(Loan),
                    [
                        {
                            "carrier_id": n,
                            "borrower_id": 1,
                            "purpose": "TREAT",
                            "out_at": now,
                            "due_on": date(2030, 1, 1),
                        }
                        for n in lent
                    ],
                )
        print(f"  seeded {ids[-1]:,} carriers ({time.perf_counter() - started:.0f} s)", flush=True)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            # Rows were inserted with explicit ids: move the id sequences past them.
            for table in ("tag", "carrier", "study", "loan", "location", "borrower"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), MAX(id))"
                        f" FROM {table}"
                    )
                )
            conn.execute(text("ANALYZE"))
    with session_scope(engine) as session:
        station, key = station_service.create(
            session=session, station_in=StationCreate(name="bench", location="DESK")
        )
        principal = Principal(
            kind="station", id=station.id, role=Role.STATION, station_id=station.id, location_id=2
        )
    return principal, key


@contextmanager
def scratch_database(db: str, postgres_url: str) -> Iterator[tuple[Path, str, Engine]]:
    """A fresh, migrated database (a file in a temporary folder, or a new PostgreSQL database)
    and its folder, removed afterwards: a seeded database is large."""
    workdir = Path(tempfile.mkdtemp(prefix="mt-bench-"))
    db_name = f"mt_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(postgres_url)
    if db == "sqlite":
        url = f"sqlite:///{workdir / 'bench.db'}"
    else:
        with admin.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(
                text(f'CREATE DATABASE "{db_name}"')
            )
        url = postgres_url.rsplit("/", 1)[0] + f"/{db_name}"
    engine = make_engine(url)
    upgrade(engine)
    try:
        yield workdir, url, engine
    finally:
        engine.dispose()
        shutil.rmtree(workdir, ignore_errors=True)
        if db == "postgres":
            with admin.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(
                    text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
                )
        admin.dispose()


def timed(fn: Callable[[int], object], runs: int) -> list[float]:
    samples = []
    for i in range(runs):
        t0 = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--carriers", type=int, default=100_000)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()

    with scratch_database(args.db, args.postgres_url) as (workdir, url, engine):
        print(f"Seeding {args.carriers:,} carriers on {args.db} ...", flush=True)
        principal, key = seed(engine, args.carriers)
        seq = iter(range(1, 10**9))
        rng_ids = [(i * 7919) % args.carriers + 1 for i in range(args.runs)]

        def scan_once(i: int) -> None:
            read = ScanRead(
                event_id=uuid.uuid4(),
                station_seq=next(seq),
                tag_uid=uid(rng_ids[i]),
                technology="iso14443a",
                read_at=datetime.now(UTC),
            )
            with session_scope(engine) as session:
                scan_service.ingest(session=session, principal=principal, reads=[read])

        clerk = Principal(kind="user", id=1, role=Role.CLERK)

        def where(kind: QueryKind, query: Callable[[int], str]) -> Callable[[int], None]:
            def run(i: int) -> None:
                with session_scope(engine) as session:
                    lookup_service.where(
                        session=session, principal=clerk, query=query(i), kind=kind, secret="x" * 32
                    )

            return run

        rows = []
        for name, fn in [
            ("scan resolved and logged", scan_once),
            (
                "where is it, by patient ID",
                where(QueryKind.PATIENT, lambda i: f"P{rng_ids[i] // 3:08d}"),
            ),
            (
                "where is it, by accession",
                where(QueryKind.ACCESSION, lambda i: f"A{rng_ids[i]:09d}"),
            ),
        ]:
            timed(fn, 50)  # warm caches
            samples = timed(fn, args.runs)
            rows.append((name, statistics.median(samples), pct(samples, 0.99)))

        # HTTP: single-scan requests vs a bare endpoint on the same server and client.
        settings = Settings(DATA_DIR=workdir, DATABASE_URL=url, SECRET_KEY="b" * 40)
        app: FastAPI = create_app(settings)

        @app.post("/bare")
        def bare() -> dict[str, bool]:
            return {"ok": True}

        http_rows = []
        headers = {"X-API-Key": key}
        with (
            serve(app) as base,
            httpx.Client(base_url=base, headers=headers, timeout=120) as client,
        ):

            def rate(fn: Callable[[int], object], seconds: float = 5.0) -> float:
                count, t0 = 0, time.perf_counter()
                while time.perf_counter() - t0 < seconds:
                    fn(count)
                    count += 1
                return count / (time.perf_counter() - t0)

            def post_scan(i: int) -> None:
                r = client.post(
                    "/api/v1/scans",
                    json={
                        "reads": [
                            {
                                "event_id": str(uuid.uuid4()),
                                "station_seq": next(seq),
                                "tag_uid": uid(rng_ids[i % len(rng_ids)]),
                                "technology": "iso14443a",
                                "read_at": datetime.now(UTC).isoformat(),
                            }
                        ]
                    },
                )
                r.raise_for_status()

            def post_batch(i: int) -> None:
                reads = [
                    {
                        "event_id": str(uuid.uuid4()),
                        "station_seq": next(seq),
                        "tag_uid": uid((i * 500 + j) % args.carriers + 1),
                        "technology": "iso14443a",
                        "read_at": datetime.now(UTC).isoformat(),
                    }
                    for j in range(500)
                ]
                client.post("/api/v1/scans", json={"reads": reads}).raise_for_status()

            bare_rate = rate(lambda i: client.post("/bare").raise_for_status())
            scan_rate = rate(post_scan)
            batch_rate = rate(post_batch, 10.0) * 500
            http_rows = [
                ("bare FastAPI endpoint", bare_rate),
                ("single-scan POST /api/v1/scans", scan_rate),
                ("batch ingest, 500 reads per request (reads/s)", batch_rate),
            ]

        print()
        today = f"{datetime.now(UTC):%Y-%m-%d}"
        print(f"Service figures, {args.carriers:,} carriers on {args.db} ({today}):")
        print()
        print("| operation (one committed transaction) | median ms | p99 ms |")
        print("|---|---|---|")
        for name, median, p99 in rows:
            print(f"| {name} | {median:.2f} | {p99:.2f} |")
        print()
        print("| HTTP, one client, sequential | per second |")
        print("|---|---|")
        for name, value in http_rows:
            print(f"| {name} | {value:,.0f} |")
        print(f"\nsingle-scan rate / bare rate = {scan_rate / bare_rate:.2f}")


if __name__ == "__main__":
    main()
