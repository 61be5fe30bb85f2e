"""Each station's read budget through the API (scans and inventory reads), on both databases."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.core.config import Settings
from tests.app.scans.test_router import count, read
from tests.factories import World, tag_uid


def _campaign(client: TestClient, world: World) -> int:
    today = date.today()
    body = {"name": "Year-end", "scope": "ARCH", "starts_on": today.isoformat(),
            "ends_on": (today + timedelta(days=7)).isoformat()}
    answer = client.post("/api/v1/inventory/campaigns", json=body, headers=world.auth("clerk"))
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def _sweep_reads(n: int) -> list[dict[str, Any]]:
    session, at = str(uuid.uuid4()), datetime.now(UTC).isoformat()
    return [{"event_id": str(uuid.uuid4()), "session": session, "read_at": at,
             "tag_uid": tag_uid(1 + i % 3)} for i in range(n)]


def _scans(client: TestClient, key: str, reads: list[dict[str, Any]]) -> Any:
    return client.post("/api/v1/scans", json={"reads": reads}, headers={"X-API-Key": key})


def test_a_normal_station_passes_on_the_default_budget(
    client: TestClient, world: World
) -> None:
    """An inventory batch of 500 reads, then a desk's taps, one after the other."""
    campaign = _campaign(client, world)
    r = client.post(f"/api/v1/inventory/campaigns/{campaign}/reads",
                    json={"reads": _sweep_reads(500)}, headers=world.auth("station"))
    assert r.status_code == 200, r.text
    for seq in range(1, 31):
        r = _scans(client, world.station_key, [read(tag_uid(1), seq)])
        assert r.status_code == 200, r.text


class TestOverTheBudget:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        # One full batch, then a read every 100 s: the next read is over, within this test.
        return settings.model_copy(
            update={"STATION_READS_PER_SECOND": 0.01, "STATION_READ_BURST": 500}
        )

    def test_429_with_retry_after_and_nothing_recorded(
        self, client: TestClient, world: World, engine: Engine
    ) -> None:
        reads = [read(tag_uid(1 + n % 3), n + 1) for n in range(500)]
        assert _scans(client, world.station_key, reads).status_code == 200
        events = count(engine, "SELECT COUNT(*) FROM custody_event")
        r = _scans(client, world.station_key, [read(tag_uid(1), 501)])
        assert r.status_code == 429, r.text
        assert r.json()["error"] == "too_many_requests"
        assert 1 <= int(r.headers["retry-after"]) <= 100
        assert f"again in {r.headers['retry-after']} seconds" in r.json()["detail"]
        assert count(engine, "SELECT COUNT(*) FROM custody_event") == events
        campaign = _campaign(client, world)
        sweep = client.post(f"/api/v1/inventory/campaigns/{campaign}/reads",
                            json={"reads": _sweep_reads(1)}, headers=world.auth("station"))
        assert sweep.status_code == 429  # one budget for both kinds of reads
        # Another station, and staff sweeping with a phone, are not held back.
        other = _scans(client, world.other_station_key, [read(tag_uid(2), 1)])
        assert other.status_code == 200, other.text
        by_clerk = client.post(f"/api/v1/inventory/campaigns/{campaign}/reads",
                               json={"reads": _sweep_reads(500)}, headers=world.auth("clerk"))
        assert by_clerk.status_code == 200, by_clerk.text
