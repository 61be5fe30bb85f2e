"""A service killed while scans from eight stations are queued, grouped and committing loses no
acknowledged scan (app.core.writer answers only after its group's commit), on both databases."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text

from app.audit import service as audit_service
from app.core.config import Settings
from app.core.db import session_scope
from tests.factories import World, tag_uid
from tests.support.service import ServiceProcess
from tests.support.wait import wait_for

STATIONS = 8


@pytest.fixture
def service(settings: Settings, world: World, tmp_path: Path) -> Iterator[ServiceProcess]:
    """`mediatrack serve` on the test database (already migrated, with the world's station and
    carriers)."""
    with ServiceProcess(settings, tmp_path) as service:
        service.start()
        yield service


def test_a_killed_service_keeps_every_acknowledged_scan(
    service: ServiceProcess, world: World, engine: Engine
) -> None:
    base = service.base
    acknowledged: list[str] = []
    unanswered: list[str] = []
    lock = threading.Lock()

    def station(number: int) -> None:
        with httpx.Client(base_url=base, headers={"X-API-Key": world.station_key}) as client:
            for seq in range(number * 1_000_000 + 1, number * 1_000_000 + 100_000):
                event_id = str(uuid.uuid4())
                read = {
                    "event_id": event_id,
                    "station_seq": seq,
                    "tag_uid": tag_uid(1 + seq % 3),
                    "technology": "iso14443a",
                    "read_at": datetime.now(UTC).isoformat(),
                }
                try:
                    r = client.post("/api/v1/scans", json={"reads": [read]}, timeout=30)
                except httpx.TransportError:
                    with lock:
                        unanswered.append(event_id)
                    return
                assert r.status_code == 200, r.text
                with lock:
                    acknowledged.append(event_id)

    threads = [threading.Thread(target=station, args=(n,)) for n in range(STATIONS)]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(acknowledged) >= 300, 120, "300 acknowledged scans")
    service.kill()
    for thread in threads:
        thread.join(60)
    assert len(unanswered) == STATIONS  # every station had a scan in flight when it died

    with engine.connect() as conn:
        stored = {
            row[0]: row[1]
            for row in conn.execute(text("SELECT event_id, event_seq FROM scan"))
        }
    lost = [e for e in acknowledged if e not in stored]
    assert lost == [], f"{len(lost)} acknowledged scans are missing"
    assert all(stored[e] is not None for e in acknowledged)  # each with its "seen" event
    with session_scope(engine) as session:
        report = audit_service.verify(session)
    assert report.ok, report
