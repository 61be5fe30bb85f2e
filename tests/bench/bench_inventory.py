"""Batch ingest of inventory sweep reads, durable, through HTTP (part of ``python -m tests.bench``).

Alone, on a fresh archive of each database (seeded like the full benchmark's, no log events):

    .venv/bin/python -m tests.bench.bench_inventory [--carriers 100000] [--db sqlite,postgres]
                                                    [--seconds 10]

A campaign over the archive room is swept shelf by shelf: batches of 500 reads (each shelf's
tag read first, then its carriers') posted to ``POST /api/v1/inventory/campaigns/{id}/reads``
with a clerk's token, one client after the other. Each read is a different carrier's tag (so
each one is classed, stored, moves its sighting and its carrier's last-seen place), every batch
in one committed transaction (SQLite synchronous=FULL).
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import httpx
from sqlalchemy import Engine

from app.core.db import session_scope
from app.core.principal import SYSTEM, Role
from app.core.security import issue_token
from app.inventory import service as inventory_service
from app.inventory.schemas import CampaignCreate
from app.users.models import User
from tests.bench import bench_http, bench_service
from tests.bench.bench_service import PER_SHELF, pct, shelf_code, uid

BATCH = 500


def _sweep(carriers: int) -> Iterator[dict[str, list[dict[str, str]]]]:
    """Request bodies sweeping the archive, made as they are sent (a million reads at once
    would weigh more than the service under test)."""
    session = str(uuid.uuid4())
    start = datetime.now(UTC)
    reads: list[dict[str, str]] = []
    order = itertools.count()

    def read(subject: dict[str, str]) -> dict[str, str]:
        at = start + timedelta(milliseconds=next(order))
        return {"event_id": str(uuid.uuid4()), "session": session, "read_at": at.isoformat(),
                **subject}

    for n in range(1, carriers + 1):
        if (n - 1) % PER_SHELF == 0:
            reads.append(read({"location": shelf_code(n)}))
        reads.append(read({"tag_uid": uid(n), "technology": "iso14443a"}))
        if len(reads) >= BATCH:
            yield {"reads": reads[:BATCH]}
            reads = reads[BATCH:]
    if reads:
        yield {"reads": reads}


def measure(
    engine: Engine, base_url: str, token: str, *, carriers: int, seconds: float
) -> dict[str, float]:
    """Reads per second and per-request latency (ms) of ``seconds`` of sweeping a new
    campaign."""
    with session_scope(engine) as session:
        campaign = inventory_service.create_campaign(
            session=session,
            principal=SYSTEM,
            campaign_in=CampaignCreate(
                name=f"bench-{carriers}",
                scope="ARCH",
                starts_on=date.today(),
                ends_on=date.today() + timedelta(days=1),
            ),
        )
        path = f"/api/v1/inventory/campaigns/{campaign.id}/reads"
    latencies: list[float] = []
    reads = 0
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=120) as client:
        t0 = time.perf_counter()
        for body in _sweep(carriers):
            if time.perf_counter() - t0 > seconds:
                break
            t = time.perf_counter()
            answer = client.post(path, json=body)
            latencies.append((time.perf_counter() - t) * 1000)
            answer.raise_for_status()
            reads += len(body["reads"])
        elapsed = time.perf_counter() - t0
    return {
        "reads_per_s": reads / elapsed,
        "requests": len(latencies),
        "median_ms": statistics.median(latencies),
        "p99_ms": pct(latencies, 0.99),
    }


def clerk_token(engine: Engine, carriers: int, secret: str) -> str:
    """A new clerk (the custody and inventory requests' user) and a token that outlives the
    size's measurements."""
    with session_scope(engine) as session:
        clerk = User(username=f"clerk{carriers}", display_name="Clerk", role=Role.CLERK.value,
                     password_hash="-")
        session.add(clerk)
        session.flush()
        return issue_token(user_id=clerk.id or 0, role=clerk.role, secret=secret, minutes=600)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bench_inventory")
    parser.add_argument("--carriers", type=int, default=100_000)
    parser.add_argument("--db", default="sqlite,postgres", help="sqlite, postgres or both")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--postgres-url", default=os.environ.get(
        "MEDIATRACK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    opts = parser.parse_args()
    secret = "bench-secret-" + "b" * 32
    for db in (d.strip() for d in opts.db.split(",") if d.strip()):
        with bench_service.scratch_database(db, opts.postgres_url) as (workdir, url, engine):
            bench_service.seed_base(engine)
            bench_service.grow(engine, 0, opts.carriers)
            token = clerk_token(engine, opts.carriers, secret)
            with bench_http.service(workdir, url, secret, 1) as (base, _):
                figures = measure(engine, base, token, carriers=opts.carriers,
                                  seconds=opts.seconds)
        print(f"{db}, {opts.carriers:,} carriers: {figures['reads_per_s']:,.0f} reads/s, "
              f"{figures['requests']:.0f} requests of {BATCH}, median "
              f"{figures['median_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms; load average "
              f"{os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
