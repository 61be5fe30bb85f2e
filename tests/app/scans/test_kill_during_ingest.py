"""A service killed while scans from eight stations are queued, grouped and committing loses no
acknowledged scan (app.core.writer answers only after its group's commit), on both databases."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
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
from tests.support.ports import free_port
from tests.support.wait import wait_for

STATIONS = 8


@pytest.fixture
def service(
    settings: Settings, world: World, tmp_path: Path
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`mediatrack serve` as its own process on the test database (already migrated, with the
    world's station and carriers)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIATRACK_")}
    env.update(
        MEDIATRACK_DATABASE_URL=settings.DATABASE_URL,
        MEDIATRACK_DATA_DIR=str(tmp_path / "data"),
        MEDIATRACK_SECRET_KEY=settings.secret_key,
    )
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from app.cli import main; main()", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert proc.poll() is None, "mediatrack serve exited"
        try:
            return httpx.get(f"{base}/openapi.json", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(up, 60, "mediatrack serve to answer")
    yield base, proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=30)


def test_a_killed_service_keeps_every_acknowledged_scan(
    service: tuple[str, subprocess.Popen[str]], world: World, engine: Engine
) -> None:
    base, proc = service
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
    proc.send_signal(signal.SIGKILL)
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
