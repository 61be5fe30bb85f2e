"""Requests for carriers through the API, on both databases."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.factories import World, study_in

TOMORROW = (date.today() + timedelta(days=1)).isoformat()


def _ask(client: TestClient, world: World, carrier: str, role: str = "clinician",
         **extra: str) -> dict[str, object]:
    r = client.post("/api/v1/requests", headers=world.auth(role),
                    json={"carrier": carrier, "purpose": "TREAT", "needed_on": TOMORROW, **extra})
    assert r.status_code == 201, r.text
    body: dict[str, object] = r.json()
    return body


def _events(engine: Engine, action: str) -> list[dict[str, object]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT payload FROM custody_event WHERE action = :a ORDER BY seq"), {"a": action}
        )
        return [json.loads(row[0]) for row in rows]


def test_asked_pulled_and_lent_to_whoever_asked(
    client: TestClient, world: World, engine: Engine
) -> None:
    label = world.labels[0]
    asked = _ask(client, world, label, note="MDT on Friday")
    assert asked["state"] == "open" and asked["label"] == label
    assert asked["location_path"] == "City Hospital / Archive / Shelf 1"
    mine = client.get("/api/v1/requests", headers=world.auth("clinician")).json()
    assert [r["id"] for r in mine["data"]] == [asked["id"]]
    assert client.get("/api/v1/requests", headers=world.auth("clerk")).json()["count"] == 0
    pull = client.get("/api/v1/requests/pull-list", headers=world.auth("clerk")).json()
    assert [r["id"] for r in pull["data"]] == [asked["id"]]

    r = client.post(f"/api/v1/requests/{asked['id']}/fulfil", headers=world.auth("clerk"))
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["state"] == "fulfilled" and done["loan_id"]
    carrier = client.get(f"/api/v1/carriers/{label}", headers=world.auth("clerk")).json()
    assert carrier["status"] == "checked_out"
    assert "Clinician" in json.dumps(carrier)  # lent to the requester's borrower record
    mine = client.get("/api/v1/requests", headers=world.auth("clinician")).json()
    assert mine["data"][0]["state"] == "fulfilled"
    assert client.get("/api/v1/requests/pull-list", headers=world.auth("clerk")).json()[
        "count"] == 0
    assert _events(engine, "request_created")[-1] == {
        "label": label, "request_id": asked["id"], "purpose": "TREAT", "needed_on": TOMORROW}
    assert _events(engine, "request_fulfilled")[-1] == {
        "label": label, "request_id": asked["id"], "loan_id": done["loan_id"]}
    again = client.post(f"/api/v1/requests/{asked['id']}/fulfil", headers=world.auth("clerk"))
    assert again.status_code == 409


def test_a_study_names_its_carrier(client: TestClient, world: World) -> None:
    by_accession = _ask(client, world, study_in(2).accession_number or "")
    assert by_accession["label"] == world.labels[1]
    by_uid = _ask(client, world, study_in(3).study_uid)
    assert by_uid["label"] == world.labels[2]
    r = client.post("/api/v1/requests", headers=world.auth("clinician"),
                    json={"carrier": "ZZCANARY0001", "purpose": "TREAT", "needed_on": TOMORROW})
    assert r.status_code == 404 and "ZZCANARY" not in r.text


def test_a_carrier_that_is_out_queues_the_request_until_it_is_back(
    client: TestClient, world: World
) -> None:
    label = world.labels[0]
    clerk = world.auth("clerk")
    r = client.post(f"/api/v1/carriers/{label}/checkout", headers=clerk,
                    json={"borrower_id": world.borrower_id, "purpose": "TREAT"})
    assert r.status_code == 200, r.text
    asked = _ask(client, world, label)
    assert asked["state"] == "queued"
    assert client.get("/api/v1/requests/pull-list", headers=clerk).json()["count"] == 0
    refused = client.post(f"/api/v1/requests/{asked['id']}/fulfil", headers=clerk)
    assert refused.status_code == 409
    assert client.post(f"/api/v1/carriers/{label}/return", headers=clerk, json={}).status_code \
        == 200
    pull = client.get("/api/v1/requests/pull-list", headers=clerk).json()
    assert [(r["id"], r["state"]) for r in pull["data"]] == [(asked["id"], "open")]


def test_one_borrower_record_per_requester(client: TestClient, world: World) -> None:
    clerk = world.auth("clerk")
    for label in world.labels[:2]:
        asked = _ask(client, world, label)
        assert client.post(f"/api/v1/requests/{asked['id']}/fulfil", headers=clerk).status_code \
            == 200
    borrowers = client.get("/api/v1/borrowers", headers=clerk).json()["data"]
    assert [b["kind"] for b in borrowers if b["name"] == "Clinician"] == ["staff"]


def test_cancel_and_refusals(client: TestClient, world: World) -> None:
    label = world.labels[0]
    asked = _ask(client, world, label)
    twin = client.post("/api/v1/requests", headers=world.auth("clinician"),
                       json={"carrier": label, "purpose": "TREAT", "needed_on": TOMORROW})
    assert twin.status_code == 409
    # The clerk's own request for the same carrier is another request.
    theirs = _ask(client, world, label, role="clerk")
    r = client.post(f"/api/v1/requests/{asked['id']}/cancel", headers=world.auth("clinician"))
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    r = client.post(f"/api/v1/requests/{theirs['id']}/cancel", headers=world.auth("clinician"))
    assert r.status_code == 403
    r = client.post(f"/api/v1/requests/{theirs['id']}/cancel", headers=world.auth("admin"))
    assert r.status_code == 200
    for body, field in [
        ({"purpose": "NOPE"}, "purpose of use"),
        ({"needed_on": (date.today() - timedelta(days=1)).isoformat()}, "in the past"),
    ]:
        r = client.post("/api/v1/requests", headers=world.auth("clinician"),
                        json={"carrier": label, "purpose": "TREAT", "needed_on": TOMORROW,
                              **body})
        assert r.status_code == 422 and field in r.json()["detail"], r.text


@pytest.mark.parametrize("role", ["auditor", "station"])
def test_who_may_not_ask(client: TestClient, world: World, role: str) -> None:
    r = client.post("/api/v1/requests", headers=world.auth(role),
                    json={"carrier": world.labels[0], "purpose": "TREAT", "needed_on": TOMORROW})
    assert r.status_code == 403
