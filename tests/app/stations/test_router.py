"""Station keys through the API, on both databases: rotation with a grace period."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.core.time import utcnow
from tests.factories import World

STATION_ONLY = "/api/v1/stations/me"


def _as(client: TestClient, key: str) -> int:
    return client.get(STATION_ONLY, headers={"X-API-Key": key}).status_code


def _rotate(client: TestClient, world: World, name: str = "desk-1", **query: int) -> str:
    r = client.post(f"/api/v1/stations/{name}/rotate-key", params=query,
                    headers=world.auth("admin"))
    assert r.status_code == 200, r.text
    key = r.json()["api_key"]
    assert isinstance(key, str)
    return key


def _events(engine: Engine, action: str) -> list[tuple[str, str, dict[str, object]]]:
    query = text("SELECT actor_kind, actor_role, payload FROM custody_event "
                 "WHERE action = :a ORDER BY seq")
    with engine.connect() as conn:
        return [(r[0], r[1], json.loads(r[2])) for r in conn.execute(query, {"a": action})]


def _end_grace(engine: Engine, name: str) -> None:
    """The grace period is over (set behind the service's back: no waiting an hour)."""
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE station SET previous_key_expires_at = :t WHERE name = :n"),
            {"t": utcnow() - timedelta(seconds=1), "n": name},
        )


class TestRotateKey:
    def test_old_and_new_keys_work_during_the_grace_period_then_only_the_new(
        self, client: TestClient, world: World, engine: Engine,
        memory_lapses: Callable[[], None],
    ) -> None:
        old = world.station_key
        assert _as(client, old) == 200
        r = client.post("/api/v1/stations/desk-1/rotate-key", headers=world.auth("admin"))
        assert r.status_code == 200, r.text
        answer = r.json()
        new = answer["api_key"]
        assert new != old and answer["name"] == "desk-1" and answer["revoked"] is False
        until = datetime.fromisoformat(answer["old_key_valid_until"])
        assert timedelta(minutes=59) < until - utcnow() <= timedelta(minutes=60)  # default 60
        assert _as(client, new) == 200
        assert _as(client, old) == 200
        # The station posts scans with either key as itself.
        for key in (old, new):
            me = client.get(STATION_ONLY, headers={"X-API-Key": key}).json()
            assert me["name"] == "desk-1"

        _end_grace(engine, "desk-1")
        memory_lapses()
        assert _as(client, old) == 401
        r = client.get(STATION_ONLY, headers={"X-API-Key": old})
        assert "replaced" in r.json()["detail"]
        assert _as(client, new) == 200
        listed = client.get("/api/v1/stations", headers=world.auth("admin")).json()["data"]
        assert {s["name"]: s["old_key_valid_until"] for s in listed}["desk-1"] is None

    def test_the_rotation_is_logged_without_any_key(
        self, client: TestClient, world: World, engine: Engine
    ) -> None:
        new = _rotate(client, world, grace_minutes=5)
        [(kind, role, payload)] = _events(engine, "admin_station_key_rotated")
        assert (kind, role) == ("user", "admin")
        assert payload["name"] == "desk-1" and "old_key_valid_until" in payload
        with engine.connect() as conn:
            logged = "\n".join(conn.execute(text("SELECT payload FROM custody_event")).scalars())
        for key in (new, world.station_key):
            # mtk_<prefix>_<secret>: the secret may itself hold "_" (URL-safe base64).
            secret = key.split("_", 2)[2]
            assert secret and key not in logged and secret not in logged

    def test_no_grace_stops_the_old_key_at_once(
        self, client: TestClient, world: World, memory_lapses: Callable[[], None]
    ) -> None:
        """For a key that leaked: within the second a key check is remembered for."""
        assert _as(client, world.station_key) == 200
        new = _rotate(client, world, grace_minutes=0)
        memory_lapses()
        assert _as(client, world.station_key) == 401
        assert _as(client, new) == 200

    def test_a_second_rotation_ends_the_first_old_key(
        self, client: TestClient, world: World, memory_lapses: Callable[[], None]
    ) -> None:
        assert _as(client, world.station_key) == 200
        second = _rotate(client, world)
        third = _rotate(client, world)
        memory_lapses()
        assert _as(client, world.station_key) == 401
        assert _as(client, second) == 200 and _as(client, third) == 200
        assert _as(client, world.other_station_key) == 200  # another station is untouched

    def test_a_revoked_station_is_not_given_a_new_key(
        self, client: TestClient, world: World, engine: Engine
    ) -> None:
        r = client.post("/api/v1/stations/desk-1/revoke", headers=world.auth("admin"))
        assert r.status_code == 200
        r = client.post("/api/v1/stations/desk-1/rotate-key", headers=world.auth("admin"))
        assert r.status_code == 409 and "revoked" in r.json()["detail"]
        assert _events(engine, "admin_station_key_rotated") == []

    @pytest.mark.parametrize("key_of", ["old", "new"])
    def test_revoking_stops_both_keys(
        self, key_of: str, client: TestClient, world: World,
        memory_lapses: Callable[[], None],
    ) -> None:
        new = _rotate(client, world)
        key = new if key_of == "new" else world.station_key
        assert _as(client, key) == 200
        r = client.post("/api/v1/stations/desk-1/revoke", headers=world.auth("admin"))
        assert r.status_code == 200
        memory_lapses()
        assert _as(client, key) == 401
