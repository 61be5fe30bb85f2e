"""Inventory benchmark: batch ingest of sweep reads, durable, through HTTP.

    .venv/bin/python -m tests.bench.bench_inventory [--carriers 100000] [--db sqlite|postgres]
                                                     [--seconds 10]

Seeds a fresh database with N carriers (tests.bench.bench_service's bulk seed: each with a tag,
every 50th lent out), puts them on shelves of 200 (a real shelf holds tens to hundreds),
opens a campaign over the archive, then sweeps it shelf by shelf: batches of 500 reads (each
shelf's tag read first, then its carriers) posted to
``POST /api/v1/inventory/campaigns/{id}/reads`` with the clerk's token, one client after the
other, on a real uvicorn. Each read is a different carrier's tag (so each one is classed,
stored, moves its sighting and its carrier's last-seen place), every batch in one committed
transaction (SQLite synchronous=FULL). Prints reads per second and the per-request latency for
docs/performance.md. Nothing here is asserted by a test.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
from sqlalchemy import Engine, insert, update
from sqlmodel import col

from app.carriers.models import Carrier
from app.core.config import Settings
from app.core.db import session_scope
from app.core.principal import SYSTEM, Role
from app.core.security import issue_token
from app.inventory import service as inventory_service
from app.inventory.schemas import CampaignCreate
from app.locations.models import Location
from app.main import create_app
from app.users.models import User
from tests.bench.bench_service import pct, scratch_database, seed, uid
from tests.support.server import serve

BATCH = 500
PER_SHELF = 200
FIRST_SHELF = 1000  # location ids of the shelves: FIRST_SHELF + n


def shelve(engine: Engine, carriers: int) -> None:
    """Shelves of PER_SHELF carriers under the archive room, and each carrier on its shelf."""
    shelves = (carriers + PER_SHELF - 1) // PER_SHELF
    with engine.begin() as conn:
        conn.execute(
            insert(Location),
            [
                {
                    "id": FIRST_SHELF + n,
                    "code": f"S{n:06d}",
                    "name": f"Shelf {n}",
                    "kind": "shelf",
                    "parent_id": 1,
                    "path": f"Hospital / Archive / Shelf {n}",
                }
                for n in range(shelves)
            ],
        )
        conn.execute(
            update(Carrier).values(
                current_location_id=FIRST_SHELF + (col(Carrier.id) - 1) // PER_SHELF,
                home_location_id=FIRST_SHELF + (col(Carrier.id) - 1) // PER_SHELF,
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--carriers", type=int, default=100_000)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    with scratch_database(args.db, args.postgres_url) as (workdir, url, engine):
        print(f"Seeding {args.carriers:,} carriers on {args.db} ...", flush=True)
        seed(engine, args.carriers)
        shelve(engine, args.carriers)
        settings = Settings(DATA_DIR=workdir, DATABASE_URL=url, SECRET_KEY="b" * 40)
        with session_scope(engine) as session:
            clerk = User(
                username="clerk", display_name="Clerk", role=Role.CLERK.value, password_hash="-"
            )
            session.add(clerk)
            session.flush()
            token = issue_token(
                user_id=clerk.id or 0, role=clerk.role, secret=settings.secret_key, minutes=60
            )
            campaign = inventory_service.create_campaign(
                session=session,
                principal=SYSTEM,
                campaign_in=CampaignCreate(
                    name="bench",
                    scope="ARCH",
                    starts_on=date.today(),
                    ends_on=date.today() + timedelta(days=1),
                ),
            )
            campaign_id = campaign.id
        sweep = str(uuid.uuid4())
        start = datetime.now(UTC)
        counter = iter(range(10**9))

        def read(subject: dict[str, str]) -> dict[str, str]:
            n = next(counter)
            return {
                "event_id": str(uuid.uuid4()),
                "session": sweep,
                "read_at": (start + timedelta(milliseconds=n)).isoformat(),
                **subject,
            }

        app = create_app(settings)
        path = f"/api/v1/inventory/campaigns/{campaign_id}/reads"
        headers = {"Authorization": f"Bearer {token}"}
        latencies: list[float] = []
        reads = 0
        with (
            serve(app) as base,
            httpx.Client(base_url=base, headers=headers, timeout=120) as client,
        ):
            sweep_reads = []
            for n in range(1, args.carriers + 1):
                if (n - 1) % PER_SHELF == 0:
                    sweep_reads.append(read({"location": f"S{(n - 1) // PER_SHELF:06d}"}))
                sweep_reads.append(read({"tag_uid": uid(n), "technology": "iso14443a"}))
            bodies = [
                {"reads": sweep_reads[i : i + BATCH]} for i in range(0, len(sweep_reads), BATCH)
            ]
            t0 = time.perf_counter()
            for body in bodies:
                if time.perf_counter() - t0 > args.seconds:
                    break
                t = time.perf_counter()
                answer = client.post(path, json=body)
                latencies.append(time.perf_counter() - t)
                answer.raise_for_status()
                reads += len(body["reads"])
            elapsed = time.perf_counter() - t0
        print()
        print(
            f"Inventory batch ingest, {args.carriers:,} carriers on {args.db} "
            f"({datetime.now(UTC):%Y-%m-%d}), {len(latencies)} requests of {BATCH} reads:"
        )
        print()
        print("| reads per second | request median ms | request p99 ms |")
        print("|---|---|---|")
        print(
            f"| {reads / elapsed:,.0f} | {statistics.median(latencies) * 1000:.1f} "
            f"| {pct(latencies, 0.99) * 1000:.1f} |"
        )


if __name__ == "__main__":
    main()
