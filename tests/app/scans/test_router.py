"""POST /api/v1/scans: resolution, the answer a desk shows, and idempotent delivery."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.factories import World, tag_uid


def read(
    uid: str, seq: int, event_id: str | None = None, technology: str = "iso14443a"
) -> dict[str, Any]:
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "station_seq": seq,
        "tag_uid": uid,
        "technology": technology,
        "read_at": datetime.now(UTC).isoformat(),
    }


def post(
    client: TestClient, world: World, reads: list[dict[str, Any]], key: str | None = None
) -> Any:
    headers = {"X-API-Key": key or world.station_key}
    r = client.post("/api/v1/scans", json={"reads": reads}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["results"]


def count(engine: Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar() or 0)


class TestResolve:
    def test_known_tag_is_seen_at_station_location(
        self, client: TestClient, world: World, engine: Engine
    ) -> None:
        # Reader separators and lower case are normalised.
        uid = tag_uid(1)
        spaced = ":".join(uid[i : i + 2] for i in range(0, len(uid), 2)).lower()
        [result] = post(client, world, [read(spaced, 1)])
        assert result["outcome"] == "seen"
        assert result["replayed"] is False
        assert result["carrier"]["label"] == world.labels[0]
        assert result["carrier"]["status"] == "in_storage"
        assert result["carrier"]["studies"][0]["study_uid"].startswith("1.2.826.0.1.3680043")
        assert "checkout" in result["actions"]
        assert result["message"].startswith(f"DVD {world.labels[0]} is in storage at")
        assert count(engine, "SELECT COUNT(*) FROM custody_event WHERE action = 'seen'") == 1
        with engine.connect() as conn:
            station_loc = conn.execute(
                text("SELECT location_id FROM station WHERE name='desk-1'")
            ).scalar()
            seen = conn.execute(
                text("SELECT location_id, station_id FROM custody_event WHERE action='seen'")
            ).one()
        assert seen[0] == station_loc and seen[1] is not None

    def test_unregistered_tag_invites_registration(self, client: TestClient, world: World) -> None:
        [result] = post(client, world, [read("04AABBCCDDEE99", 1)])
        assert result["outcome"] == "unregistered_tag"
        assert result["actions"] == ["register"]
        assert "04AABBCCDDEE99" in result["message"]

    def test_lent_carrier_answers_holder_and_return(self, client: TestClient, world: World) -> None:
        client.post(
            f"/api/v1/carriers/{world.labels[1]}/checkout",
            json={"borrower_id": world.borrower_id, "purpose": "TREAT"},
            headers=world.auth("clerk"),
        )
        [result] = post(client, world, [read(tag_uid(2), 1)])
        assert result["carrier"]["holder"] == "Dr Wang"
        assert result["actions"] == ["return", "tag", "missing", "hold"]

    def test_bad_uid_is_rejected_alone(
        self, client: TestClient, world: World, engine: Engine
    ) -> None:
        results = post(client, world, [read("XYZ", 1), read(tag_uid(1), 2)])
        assert [r["outcome"] for r in results] == ["rejected", "seen"]
        assert "hexadecimal" in results[0]["message"]
        assert count(engine, "SELECT COUNT(*) FROM scan") == 2


class TestIdempotency:
    def test_same_batch_many_times_is_recorded_once(
        self, client: TestClient, world: World, engine: Engine
    ) -> None:
        batch = [read(tag_uid(n % 3 + 1), n) for n in range(1, 21)]
        first = post(client, world, batch)
        events_after_first = count(engine, "SELECT COUNT(*) FROM custody_event")
        for _ in range(10):
            again = post(client, world, batch)
            assert [r["replayed"] for r in again] == [True] * 20
            assert [{**r, "replayed": False} for r in again] == first
        assert count(engine, "SELECT COUNT(*) FROM scan") == 20
        assert count(engine, "SELECT COUNT(*) FROM custody_event") == events_after_first
        assert count(engine, "SELECT COUNT(*) FROM custody_event WHERE action='seen'") == 20

    def test_same_sequence_new_event_id_is_a_replay(
        self, client: TestClient, world: World, engine: Engine
    ) -> None:
        [first] = post(client, world, [read(tag_uid(1), 7)])
        [second] = post(client, world, [read(tag_uid(2), 7)])
        assert second["replayed"] is True
        assert second["event_id"] == first["event_id"]
        assert count(engine, "SELECT COUNT(*) FROM scan") == 1

    def test_duplicate_inside_one_batch(
        self, client: TestClient, world: World, engine: Engine
    ) -> None:
        one = read(tag_uid(1), 3)
        results = post(client, world, [one, one])
        assert [r["replayed"] for r in results] == [False, True]
        assert count(engine, "SELECT COUNT(*) FROM scan") == 1

    def test_sequences_are_per_station(
        self, client: TestClient, world: World, engine: Engine
    ) -> None:
        post(client, world, [read(tag_uid(1), 1)])
        [other] = post(client, world, [read(tag_uid(1), 1)], key=world.other_station_key)
        assert other["replayed"] is False
        assert count(engine, "SELECT COUNT(*) FROM scan") == 2

    def test_station_comes_from_key_not_body(self, client: TestClient, world: World) -> None:
        bad = read(tag_uid(1), 1) | {"station_id": 2}
        r = client.post("/api/v1/scans", json={"reads": [bad]}, headers=world.auth("station"))
        assert r.status_code == 422


@pytest.mark.parametrize("size", [0, 501])
def test_batch_size_limits(client: TestClient, world: World, size: int) -> None:
    reads = [read(tag_uid(1), n + 1) for n in range(size)]
    r = client.post("/api/v1/scans", json={"reads": reads}, headers=world.auth("station"))
    assert r.status_code in (413, 422)


@pytest.mark.parametrize(
    ("read_at", "says"),
    [
        (0, "ISO 8601"),  # a number would be seconds since 1970
        ("2026-11-28", "ISO 8601"),
        ("2026-11-28T09:30:00", "zone"),
        ("2999-01-01T00:00:00Z", "future"),
        ("1970-01-01T00:00:00Z", "before 2000"),
    ],
)
def test_read_times_must_be_plausible(
    client: TestClient, world: World, engine: Engine, read_at: object, says: str
) -> None:
    bad = read(tag_uid(1), 1) | {"read_at": read_at}
    r = client.post("/api/v1/scans", json={"reads": [bad]}, headers=world.auth("station"))
    assert r.status_code == 422
    assert says in r.json()["detail"]
    assert count(engine, "SELECT COUNT(*) FROM scan") == 0
