"""16 clients check out the same carrier at the same moment, round after round, through a
real HTTP server: exactly one wins each round, the others get a clean 409, never a 5xx,
never two open loans; the custody log still verifies and has no gaps."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, text

from app.audit import service as audit_service
from app.core.db import session_scope
from tests.factories import World, tag_uid
from tests.support.server import serve

CLIENTS = 16
ROUNDS = int(os.environ.get("MEDIATRACK_RACE_ROUNDS", "40"))

pytestmark = pytest.mark.slow


def test_one_winner_per_round(app: FastAPI, engine: Engine, world: World) -> None:
    label = world.labels[0]
    headers = world.auth("clerk")
    body = {"borrower_id": world.borrower_id, "purpose": "TREAT"}
    tallies = []

    def attempt(client: httpx.Client, start: threading.Barrier) -> int:
        start.wait()  # all 16 requests leave together
        return client.post(f"/api/v1/carriers/{label}/checkout", json=body).status_code

    with serve(app) as base, ThreadPoolExecutor(CLIENTS) as pool:
        clients = [httpx.Client(base_url=base, headers=headers, timeout=60) for _ in range(CLIENTS)]
        for _ in range(ROUNDS):
            start = threading.Barrier(CLIENTS)
            codes = list(pool.map(attempt, clients, [start] * CLIENTS))
            tallies.append(sorted(codes))
            back = clients[0].post(f"/api/v1/carriers/{label}/return", json={})
            assert back.status_code == 200, back.text
        for client in clients:
            client.close()

    expected = sorted([200] + [409] * (CLIENTS - 1))
    assert [t for t in tallies if t != expected] == []
    with engine.connect() as conn:
        doubled = conn.execute(
            text(
                "SELECT carrier_id FROM loan WHERE returned_at IS NULL"
                " GROUP BY carrier_id HAVING COUNT(*) > 1"
            )
        ).all()
        loans = conn.execute(text("SELECT COUNT(*) FROM loan")).scalar()
        seqs = conn.execute(text("SELECT COUNT(*), MAX(seq) FROM custody_event")).one()
    assert doubled == []
    assert loans == ROUNDS
    assert seqs[0] == seqs[1]  # gap-free
    with session_scope(engine) as session:
        assert audit_service.verify(session).ok


def test_same_batch_posted_concurrently_is_recorded_once(
    app: FastAPI, engine: Engine, world: World
) -> None:
    """A station that retries while its first delivery is still in flight."""
    batch = {
        "reads": [
            {
                "event_id": f"00000000-0000-4000-8000-{n:012d}",
                "station_seq": n,
                "tag_uid": tag_uid(n % 3 + 1),
                "technology": "iso14443a",
                "read_at": datetime.now(UTC).isoformat(),
            }
            for n in range(1, 51)
        ]
    }

    def deliver(client: httpx.Client, start: threading.Barrier) -> tuple[int, list[bool]]:
        start.wait()
        r = client.post("/api/v1/scans", json=batch)
        return r.status_code, [x["replayed"] for x in r.json()["results"]]

    with serve(app) as base, ThreadPoolExecutor(8) as pool:
        clients = [
            httpx.Client(base_url=base, headers=world.auth("station"), timeout=60) for _ in range(8)
        ]
        start = threading.Barrier(8)
        answers = list(pool.map(deliver, clients, [start] * 8))
        for client in clients:
            client.close()
    assert {code for code, _ in answers} == {200}
    firsts = [flags for _, flags in answers if not any(flags)]
    assert len(firsts) == 1  # one delivery recorded the batch, seven were replays
    assert sum(all(flags) for _, flags in answers) == 7
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM scan")).scalar() == 50
        seen = "SELECT COUNT(*) FROM custody_event WHERE action = 'seen'"
        assert conn.execute(text(seen)).scalar() == 50
