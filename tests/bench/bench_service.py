"""The benchmarks' archive (a bulk seed at any size, grown in place) and the service-level
measurements: each operation timed as one whole committed transaction, as a request runs it.

Run them all with ``python -m tests.bench`` (tests/bench/__main__.py); nothing here is asserted
by a test.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import Engine, insert, text

from app.carriers.models import Carrier
from app.core.db import make_engine, session_scope
from app.core.migrations import upgrade
from app.core.principal import SYSTEM, Principal, Role
from app.custody.models import Loan
from app.locations.models import Location
from app.lookup import service as lookup_service
from app.lookup.schemas import QueryKind
from app.scans import service as scan_service
from app.scans.schemas import ScanRead
from app.stations import service as station_service
from app.stations.schemas import StationCreate
from app.studies.models import CarrierStudy, Study
from app.tags.models import Tag
from tests.factories import site_today

CHUNK = 20_000
PER_SHELF = 200  # a real shelf holds tens to hundreds of carriers
FIRST_SHELF = 1000  # location ids of the shelves: FIRST_SHELF + n
ISSUER = "HOSP"  # every seeded patient ID's IssuerOfPatientID
# The scratch PostgreSQL database: one fixed name, so a run that was killed is cleaned up by
# the next one (never the test suite's database).
POSTGRES_SCRATCH = "mediatrack_bench"


def uid(n: int) -> str:
    """Carrier n's tag UID (7 bytes, ISO 14443A)."""
    return f"04{n:010X}80"


def label(n: int) -> str:
    return f"RAD{n:09d}"


def shelf_code(n: int) -> str:
    """The code of carrier n's shelf."""
    return f"S{(n - 1) // PER_SHELF:06d}"


def patient_id(n: int) -> str:
    """Carrier n's patient: patients hold three studies (three carriers) each."""
    return f"P{n // 3:08d}"


def accession(n: int) -> str:
    return f"A{n:09d}"


def study_uid(n: int) -> str:
    return f"1.2.826.0.1.3680043.10.77.{n}"


def seed_base(engine: Engine) -> None:
    """The archive room, a desk and a borrower, into a freshly migrated database."""
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


def grow(engine: Engine, have: int, carriers: int) -> None:
    """Carriers have+1 .. carriers, bulk-inserted in chunks: each with an active tag and a
    study, on its shelf of PER_SHELF under the archive room; every 50th lent out."""
    started = time.perf_counter()
    now = datetime.now(UTC).replace(tzinfo=None)
    for start in range(have + 1, carriers + 1, CHUNK):
        ids = range(start, min(start + CHUNK, carriers + 1))
        with engine.begin() as conn:
            shelves = [n for n in ids if (n - 1) % PER_SHELF == 0]
            conn.execute(
                insert(Location),
                [
                    {
                        "id": FIRST_SHELF + (n - 1) // PER_SHELF,
                        "code": shelf_code(n),
                        "name": f"Shelf {(n - 1) // PER_SHELF}",
                        "kind": "shelf",
                        "parent_id": 1,
                        "path": f"Hospital / Archive / Shelf {(n - 1) // PER_SHELF}",
                    }
                    for n in shelves
                ],
            )
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
                        "label": label(n),
                        "kind": "DVD",
                        "status": "checked_out" if n % 50 == 0 else "in_storage",
                        "home_location_id": FIRST_SHELF + (n - 1) // PER_SHELF,
                        "current_location_id": FIRST_SHELF + (n - 1) // PER_SHELF,
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
                        "study_uid": study_uid(n),
                        "accession_number": accession(n),
                        "patient_id": patient_id(n),
                        "issuer_of_patient_id": ISSUER,
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
        # An archive in its steady state: a bulk load leaves PostgreSQL's autovacuum a pass over
        # every new table, which would otherwise run on the two cores beside the measurements.
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM (ANALYZE)"))
    settle(engine)


def settle(engine: Engine) -> None:
    """The bulk load's own writes done before anything is measured: PostgreSQL's dirty buffers
    written out by a checkpoint (else its checkpointer spreads them over the next minutes,
    beside the measurements), SQLite's WAL copied back and emptied, and the page cache's dirty
    pages synced. A real archive grew over years and has none of these pending."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("CHECKPOINT"))
    else:
        # On the DBAPI connection, outside a transaction (SQLAlchemy's would BEGIN IMMEDIATE:
        # app.core.db), where a checkpoint may run.
        raw = engine.raw_connection()
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
    os.sync()


def seed(engine: Engine, carriers: int) -> None:
    """A freshly migrated database filled with N carriers (see grow)."""
    seed_base(engine)
    grow(engine, 0, carriers)


def new_station(engine: Engine, name: str) -> tuple[Principal, str]:
    """A desk station and its API key (each benchmark run takes fresh stations, so each one's
    station_seq starts at 1)."""
    with session_scope(engine) as session:
        station, key = station_service.create(
            session=session, station_in=StationCreate(name=name, location="DESK"), by=SYSTEM
        )
        principal = Principal(
            kind="station", id=station.id, role=Role.STATION, station_id=station.id, location_id=2
        )
    return principal, key


def new_read(station_seq: int, carrier: int) -> ScanRead:
    """A station's read of carrier number ``carrier``'s tag, now, as a new event."""
    return ScanRead(
        event_id=uuid.uuid4(),
        station_seq=station_seq,
        tag_uid=uid(carrier),
        technology="iso14443a",
        read_at=datetime.now(UTC),
    )


@contextmanager
def scratch_database(
    db: str, postgres_url: str, name: str = POSTGRES_SCRATCH
) -> Iterator[tuple[Path, str, Engine]]:
    """A fresh, migrated database (a file in a temporary folder, or the PostgreSQL database
    ``name``, dropped first if a killed run left it) and its folder, removed afterwards: a
    seeded database is large. A benchmark that may run beside another names its own."""
    workdir = Path(tempfile.mkdtemp(prefix="mt-bench-"))
    admin = make_engine(postgres_url)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(
                text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            )

    if db == "sqlite":
        url = f"sqlite:///{workdir / 'bench.db'}"
    else:
        drop()
        with admin.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(
                text(f'CREATE DATABASE "{name}"')
            )
        url = postgres_url.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    try:
        upgrade(engine)
        yield workdir, url, engine
    finally:
        engine.dispose()
        shutil.rmtree(workdir, ignore_errors=True)
        if db == "postgres":
            drop()
        admin.dispose()


def timed(fn: Callable[[int], object], runs: int) -> list[float]:
    """Milliseconds of each of ``runs`` calls."""
    samples = []
    for i in range(runs):
        t0 = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(
    engine: Engine, *, carriers: int, runs: int, secret: str
) -> dict[str, list[float]]:
    """Milliseconds per operation: a scan resolved and logged (``scans.service.ingest`` with one
    read) and "where is it" by each kind of query, each one committed transaction (the lookup
    logs itself). Carriers are spread over the archive so caches do not flatter the figure."""
    principal, _ = new_station(engine, f"service-{uuid.uuid4().hex[:8]}")
    clerk = Principal(kind="user", id=1, role=Role.CLERK)
    picks = [(i * 7919) % carriers + 1 for i in range(runs)]
    seq = itertools.count(1)
    today = site_today()

    def scan(i: int) -> None:
        read = new_read(next(seq), picks[i % runs])
        with session_scope(engine) as session:
            scan_service.ingest(
                session=session, principal=principal, reads=[read], today=today
            )

    def where(
        kind: QueryKind, query: Callable[[int], str], issuer: str | None = None
    ) -> Callable[[int], None]:
        def run(i: int) -> None:
            with session_scope(engine) as session:
                lookup_service.where(
                    session=session,
                    principal=clerk,
                    query=query(picks[i % runs]),
                    kind=kind,
                    secret=secret,
                    today=today,
                    issuer=issuer,
                )

        return run

    operations: dict[str, Callable[[int], None]] = {
        "scan resolved and logged": scan,
        "where is it: patient ID with issuer": where(QueryKind.PATIENT, patient_id, ISSUER),
        "where is it: accession": where(QueryKind.ACCESSION, accession),
        "where is it: study UID": where(QueryKind.STUDY, study_uid),
        "where is it: label": where(QueryKind.LABEL, label),
        "where is it: tag": where(QueryKind.TAG, uid),
    }
    samples = {}
    for name, fn in operations.items():
        print(f"  {name}: {runs} runs", flush=True)
        timed(fn, 50)  # warm caches
        samples[name] = timed(fn, runs)
    return samples
