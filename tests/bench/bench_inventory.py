"""Batch ingest of inventory sweep reads, durable, through HTTP (part of ``python -m tests.bench``).

Alone, on a fresh archive of each database (seeded like the full benchmark's, no log events):

    .venv/bin/python -m tests.bench.bench_inventory [--carriers 100000] [--db sqlite,postgres]
                                                    [--seconds 10] [--clients 1,4] [--floor]

A campaign over the archive room is swept shelf by shelf: batches of 500 reads (each shelf's
tag read first, then its carriers') posted to ``POST /api/v1/inventory/campaigns/{id}/reads``
with a clerk's token, by one handheld and then by several at once (``--clients``), each over
its own shelves and sending its next batch when the last one is answered. Each read is a
different carrier's tag (so each one is classed, stored, moves its sighting and its carrier's
last-seen place). Every batch is answered only after the commit that holds it (SQLite
synchronous=FULL); batches arriving together share a commit (app.core.writer).

``--floor`` measures instead, in process, the least any design of this ingest must do per
read, with the service's own pieces: validate the body (``ReadBatch``, pydantic-core from the
JSON bytes), ask which event ids are stored already (idempotency), insert the reads into
``inventory_read`` with its indexes (``Bulk``, one executemany), and commit durably, for
groups of 1, 4 and 8 batches sharing a commit (what the group writer does for handhelds sending
at once). No classing, no sightings, no last-seen place, no HTTP: what it prints is an upper
bound on the reads per second any batch ingest could answer on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import httpx
from sqlalchemy import Engine

from app.core.db import session_scope
from app.core.principal import SYSTEM, Role
from app.core.security import issue_token
from app.core.time import utcnow
from app.inventory import service as inventory_service
from app.inventory.models import SweepSession
from app.inventory.schemas import CampaignCreate, ReadBatch
from app.users.models import User
from tests.bench import bench_http, bench_service
from tests.bench.bench_service import PER_SHELF, pct, shelf_code, uid

BATCH = 500


def _read(session: str, at: str, subject: dict[str, str]) -> dict[str, str]:
    return {"event_id": str(uuid.uuid4()), "session": session, "read_at": at, **subject}


def _sweep(first: int, last: int) -> Iterator[bytes]:
    """Request bodies of one handheld sweeping carriers ``first``..``last`` shelf by shelf,
    made as they are sent (a million reads at once would weigh more than the service under
    test); at the end of its part it starts a new sweep session over it again."""
    while True:
        session = str(uuid.uuid4())
        start = datetime.now(UTC)
        reads: list[dict[str, str]] = []
        for k, n in enumerate(range(first, last + 1)):
            at = (start + timedelta(milliseconds=2 * k)).isoformat()
            if n == first or (n - 1) % PER_SHELF == 0:
                reads.append(_read(session, at, {"location": shelf_code(n)}))
            at = (start + timedelta(milliseconds=2 * k + 1)).isoformat()
            reads.append(_read(session, at, {"tag_uid": uid(n), "technology": "iso14443a"}))
            if len(reads) >= BATCH:
                yield json.dumps({"reads": reads[:BATCH]}).encode()
                reads = reads[BATCH:]
        if reads:
            yield json.dumps({"reads": reads}).encode()


def measure(
    engine: Engine, base_url: str, token: str, *, carriers: int, seconds: float,
    clients: int = 1,
) -> dict[str, float]:
    """Reads per second and per-request latency (ms) of ``seconds`` of sweeping a new
    campaign by ``clients`` handhelds at once, each over its own part of the archive (its own
    shelves, its own sweep session), each sending its next batch when the last is answered."""
    with session_scope(engine) as session:
        campaign = inventory_service.create_campaign(
            session=session,
            principal=SYSTEM,
            campaign_in=CampaignCreate(
                name=f"bench-{carriers}-{clients}-{uuid.uuid4().hex[:6]}",
                scope="ARCH",
                starts_on=date.today(),
                ends_on=date.today() + timedelta(days=1),
            ),
        )
        path = f"/api/v1/inventory/campaigns/{campaign.id}/reads"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    part = carriers // clients
    latencies: list[list[float]] = [[] for _ in range(clients)]
    reads = [0] * clients
    failures: list[str] = []
    start = threading.Barrier(clients + 1)
    deadline = [0.0]

    def handheld(k: int) -> None:
        bodies = _sweep(k * part + 1, (k + 1) * part)
        with httpx.Client(base_url=base_url, headers=headers, timeout=120) as client:
            body = next(bodies)
            start.wait()
            while time.perf_counter() < deadline[0]:
                t = time.perf_counter()
                try:
                    answer = client.post(path, content=body)
                except httpx.HTTPError as exc:  # said after the run, not lost in a thread
                    failures.append(f"{type(exc).__name__}: {exc}")
                    return
                latencies[k].append((time.perf_counter() - t) * 1000)
                if answer.status_code != 200:
                    failures.append(f"{answer.status_code} {answer.text[:200]}")
                    return
                reads[k] += body.count(b'"event_id"')
                body = next(bodies)

    threads = [threading.Thread(target=handheld, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    deadline[0] = time.perf_counter() + seconds
    t0 = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - t0
    if failures:
        raise RuntimeError(f"batch ingest failed: {failures[0]}")
    every = [ms for each in latencies for ms in each]
    return {
        "clients": clients,
        "reads_per_s": sum(reads) / elapsed,
        "requests": len(every),
        "median_ms": statistics.median(every),
        "p99_ms": pct(every, 0.99),
    }


def floor(engine: Engine, *, carriers: int, groups: tuple[int, ...] = (1, 4, 8),
          batches: int = 96) -> list[dict[str, float]]:
    """Microseconds per read of each step every durable, idempotent batch ingest must take
    (see the module's docstring), ``batches`` batches of 500 reads for each group size."""
    with session_scope(engine) as session:
        campaign = inventory_service.create_campaign(
            session=session,
            principal=SYSTEM,
            campaign_in=CampaignCreate(
                name=f"floor-{uuid.uuid4().hex[:6]}", scope="ARCH", starts_on=date.today(),
                ends_on=date.today() + timedelta(days=1)),
        )
        sweep = SweepSession(uuid=str(uuid.uuid4()), campaign_id=campaign.id or 0,
                             started_at=utcnow(), last_read_at=utcnow())
        session.add(sweep)
        session.flush()
        campaign_id, session_id = campaign.id, sweep.id
    bodies = _sweep(1, carriers)
    results = []
    for group in groups:
        raw = [next(bodies) for _ in range(batches)]
        parse = stored = insert = commit = 0.0
        for start in range(0, batches, group):
            with session_scope(engine) as session:
                for body in raw[start:start + group]:
                    t = time.perf_counter()
                    reads = ReadBatch.model_validate_json(body).reads
                    parse += time.perf_counter() - t
                    event_ids = [str(r.event_id) for r in reads]
                    t = time.perf_counter()
                    inventory_service._stored(session, event_ids)
                    stored += time.perf_counter() - t
                    now = utcnow()
                    rows = [(event_id, campaign_id, session_id, r.read_at, now, r.tag_uid, None,
                             None, None, "found", False, "L0000001 is on its shelf.")
                            for r, event_id in zip(reads, event_ids, strict=True)]
                    t = time.perf_counter()
                    inventory_service._INSERT_READS.run(session, rows)
                    insert += time.perf_counter() - t
                t = time.perf_counter()
            commit += time.perf_counter() - t  # the session_scope's commit
        per_read = 1e6 / (batches * BATCH)
        steps = {"parse_us": parse * per_read, "stored_us": stored * per_read,
                 "insert_us": insert * per_read, "commit_us": commit * per_read}
        total = sum(steps.values())
        results.append({"group": group, **steps, "total_us": total,
                        "ceiling_reads_per_s": 1e6 / total})
    return results


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
    parser.add_argument("--clients", default="1,4", help="handhelds at once, e.g. 1,4")
    parser.add_argument("--floor", action="store_true",
                        help="measure the least any batch ingest must do, in process")
    parser.add_argument("--postgres-url", default=os.environ.get(
        "MEDIATRACK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    opts = parser.parse_args()
    secret = "bench-secret-" + "b" * 32
    for db in (d.strip() for d in opts.db.split(",") if d.strip()):
        with bench_service.scratch_database(db, opts.postgres_url) as (workdir, url, engine):
            bench_service.seed_base(engine)
            bench_service.grow(engine, 0, opts.carriers)
            if opts.floor:
                for row in floor(engine, carriers=opts.carriers):
                    print(f"{db}, {opts.carriers:,} carriers, {row['group']} batch(es) a "
                          f"commit, us per read: parse {row['parse_us']:.1f}, stored ids "
                          f"{row['stored_us']:.1f}, insert {row['insert_us']:.1f}, commit "
                          f"{row['commit_us']:.1f}; total {row['total_us']:.1f}: at most "
                          f"{row['ceiling_reads_per_s']:,.0f} reads/s; load average "
                          f"{os.getloadavg()[0]:.1f}", flush=True)
                continue
            token = clerk_token(engine, opts.carriers, secret)
            with bench_http.service(workdir, url, secret, 1) as (base, _):
                for clients in (int(c) for c in opts.clients.split(",")):
                    figures = measure(engine, base, token, carriers=opts.carriers,
                                      seconds=opts.seconds, clients=clients)
                    print(f"{db}, {opts.carriers:,} carriers, {clients} handheld(s): "
                          f"{figures['reads_per_s']:,.0f} reads/s, {figures['requests']:.0f} "
                          f"requests of {BATCH}, median {figures['median_ms']:.1f} ms, p99 "
                          f"{figures['p99_ms']:.1f} ms; load average "
                          f"{os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
