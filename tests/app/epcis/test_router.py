"""GET /api/v1/epcis/events: who may export, and the answers to bad or unknown filters."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.factories import World

URL = "/api/v1/epcis/events"


@pytest.mark.parametrize(
    ("role", "status"),
    [("clinician", 403), ("station", 403), ("anonymous", 401), ("auditor", 200), ("clerk", 200)],
)
def test_who_may_export(client: TestClient, world: World, role: str, status: int) -> None:
    r = client.get(URL, params={"carrier": world.labels[0]}, headers=world.auth(role))
    assert r.status_code == status, r.text
    if status == 200:
        assert r.json()["epcisBody"]["eventList"]


@pytest.mark.parametrize(
    ("params", "sentence"),
    [
        ({}, "Name a carrier, a campaign or a date range"),
        ({"since": "yesterday"}, "since: write a day (2026-03-01) or a time with its zone"),
        ({"until": "2026-03-01T08:00:00"}, "until: write a day"),
        ({"since": "2026-02-30"}, "since: write a day"),
        ({"since": "2026-03-02", "until": "2026-03-01"}, "The date range ends before it starts"),
        ({"carrier": "rad-1"}, "carrier: String should match pattern"),
        ({"campaign": "0"}, "campaign: Input should be greater than or equal to 1"),
        ({"campaign": "first"}, "campaign: Input should be a valid integer"),
    ],
)
def test_bad_filters_are_422_with_a_sentence(
    client: TestClient, world: World, params: dict[str, str], sentence: str
) -> None:
    r = client.get(URL, params=params, headers=world.auth("auditor"))
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_input"
    assert sentence in r.json()["detail"]


def test_unknown_carrier_or_campaign_is_404(client: TestClient, world: World) -> None:
    auditor = world.auth("auditor")
    r = client.get(URL, params={"carrier": "RAD9999999"}, headers=auditor)
    assert r.status_code == 404
    assert r.json()["detail"] == "No carrier is registered under that label."
    r = client.get(URL, params={"campaign": 4242}, headers=auditor)
    assert r.status_code == 404 and "4242" not in r.json()["detail"]


def test_an_export_is_logged(client: TestClient, world: World, engine: Engine) -> None:
    r = client.get(
        URL, params={"carrier": world.labels[0], "since": "2026-01-01"}, headers=world.auth("clerk")
    )
    assert r.status_code == 200
    with engine.connect() as conn:
        role, payload = conn.execute(
            text("SELECT actor_role, payload FROM custody_event ORDER BY seq DESC LIMIT 1")
        ).one()
    assert role == "clerk"
    assert json.loads(payload) == {
        "export": "epcis",
        "campaign_id": None,
        "since": "2025-12-31T16:00:00.000000Z",  # the site's day (Asia/Shanghai), in UTC
        "until": None,
    }
