"""A committed scan reaches the desk page of its station, live (Server-Sent Events): in one
process on SQLite, and across two service processes sharing PostgreSQL (LISTEN/NOTIFY)."""

from __future__ import annotations

import queue
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from app.core.config import Settings
from app.main import create_app
from tests.factories import World, tag_uid
from tests.support.desk import desk_client, listen, until_scan
from tests.support.server import serve
from tests.support.wait import wait_for


def _scan(base: str, key: str, uid: str, seq: int) -> None:
    read = {"event_id": str(uuid.uuid4()), "station_seq": seq, "tag_uid": uid,
            "technology": "iso14443a", "read_at": datetime.now(UTC).isoformat()}
    r = httpx.post(f"{base}/api/v1/scans", json={"reads": [read]},
                   headers={"X-API-Key": key}, timeout=10)
    assert r.status_code == 200, r.text


@pytest.fixture
def second_app(settings: Settings) -> Iterator[FastAPI]:
    """Another service process on the same database (its own engine, hub and listener)."""
    other = create_app(settings)
    yield other
    other.state.engine.dispose()


def test_a_scan_reaches_the_desk_of_its_station(
    app: FastAPI, second_app: FastAPI, settings: Settings, world: World
) -> None:
    # SQLite is one process: the scan goes to the same app. PostgreSQL: to the other one.
    postgres = settings.database_url.startswith("postgresql")
    with serve(app) as desk_base, serve(second_app if postgres else app) as scan_base:
        client = desk_client(desk_base)
        events: queue.Queue[tuple[str, str]] = queue.Queue()
        ready = threading.Event()
        listener = threading.Thread(target=listen, args=(client, events, ready), daemon=True)
        listener.start()
        assert ready.wait(10), "the desk's stream never opened"
        # A scan at another station must not show here; this station's must.
        _scan(scan_base, world.other_station_key, tag_uid(2), 1)
        _scan(scan_base, world.station_key, tag_uid(1), 1)
        names, data = until_scan(events)
        assert names == ["ready", "scan"]
        assert world.labels[0] in data and world.labels[1] not in data
        listener.join(timeout=10)
        client.close()


def test_a_tap_announced_while_the_listener_was_cut_off_still_reaches_the_desk(
    app: FastAPI, settings: Settings, world: World
) -> None:
    """PostgreSQL drops a NOTIFY that finds nobody listening: after reconnecting, the listener
    tells the desks to read their station's latest tap again."""
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("SQLite announces in-process, after the commit: nothing can be cut off")
    with serve(app) as base:
        client = desk_client(base)
        events: queue.Queue[tuple[str, str]] = queue.Queue()
        ready = threading.Event()
        threading.Thread(target=listen, args=(client, events, ready), daemon=True).start()
        assert ready.wait(10), "the desk's stream never opened"
        assert events.get(timeout=10)[0] == "ready"
        listener = app.state.listener
        with app.state.engine.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
                )
            )
        wait_for(lambda: not listener.ready.is_set(), what="the listener to notice")
        _scan(base, world.station_key, tag_uid(1), 1)  # its NOTIFY reaches no listener
        name, data = events.get(timeout=15)
        assert name == "scan" and world.labels[0] in data
        client.close()
