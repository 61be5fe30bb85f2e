"""The auditor's routes: reading, verifying, checkpoints and the digest of a lookup."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.factories import World


def test_auditor_finds_who_looked_up_a_patient(
    client: TestClient, world: World, engine: Engine
) -> None:
    patient = "ZZCANARY0001"
    r = client.get("/api/v1/where", params={"q": patient}, headers=world.auth("clinician"))
    assert r.status_code == 200 and r.json()["hits"]
    r = client.get(
        "/api/v1/audit/query-digest", params={"q": patient}, headers=world.auth("auditor")
    )
    assert r.status_code == 200
    digest = r.json()["query_digest"]
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT actor_role, payload FROM custody_event WHERE action = 'lookup'")
        ).all()
    lookups = [(role, json.loads(payload)) for role, payload in rows]
    assert [(role, p["kind"]) for role, p in lookups if p["query_digest"] == digest] == [
        ("clinician", "patient")
    ]
    assert all(patient not in payload for _, payload in rows)


def test_query_digest_is_for_auditors_only(client: TestClient, world: World) -> None:
    for role in ("clerk", "clinician", "admin"):
        r = client.get("/api/v1/audit/query-digest", params={"q": "X"}, headers=world.auth(role))
        assert r.status_code == 403


def test_verify_and_checkpoint_over_http(client: TestClient, world: World) -> None:
    auditor = world.auth("auditor")
    first = client.get("/api/v1/audit/verify", headers=auditor).json()
    assert first["ok"] is True and first["first_bad_seq"] is None
    checkpoint = client.post("/api/v1/audit/checkpoints", headers=auditor)
    assert checkpoint.status_code == 201
    again = client.post("/api/v1/audit/verify", json=checkpoint.json(), headers=auditor).json()
    assert again["ok"] is True and again["size"] > first["size"]
    forged = {**checkpoint.json(), "size": checkpoint.json()["size"] + 100}
    refused = client.post("/api/v1/audit/verify", json=forged, headers=auditor).json()
    assert refused["ok"] is False and "signature" in refused["reason"]


def test_reading_the_log_is_logged(client: TestClient, world: World) -> None:
    auditor = world.auth("auditor")
    events = client.get("/api/v1/audit/events", params={"limit": 500}, headers=auditor).json()
    last = events["data"][-1]["seq"]
    after = client.get("/api/v1/audit/events", params={"after": last}, headers=auditor).json()
    # The first reading's entry; the second reading's own entry is after its head.
    assert [e["action"] for e in after["data"]] == ["log_read"]
    assert after["data"][0]["payload"]["until"] == last


def test_paging_the_log_to_its_end_ends_and_is_logged_once(
    client: TestClient, world: World
) -> None:
    """A reading is logged once, on its first page; the pages after it come with its cursor
    and end at the head the first page saw."""
    auditor = world.auth("auditor")
    first = client.get("/api/v1/audit/events", params={"limit": 7}, headers=auditor).json()
    seen, cursor, pages = [e["seq"] for e in first["data"]], first["next"], 1
    while cursor is not None and pages < 50:
        page = client.get(
            "/api/v1/audit/events", params={"cursor": cursor, "limit": 7}, headers=auditor
        ).json()
        seen += [e["seq"] for e in page["data"]]
        cursor, pages = page["next"], pages + 1
    assert cursor is None and pages > 2, "paging never ended"
    assert seen == list(range(1, len(seen) + 1))
    later = client.get("/api/v1/audit/events", params={"after": seen[-1]}, headers=auditor)
    reads = [e for e in later.json()["data"] if e["action"] == "log_read"]
    # The whole paging is one entry, recording the head its first page saw.
    assert len(reads) == 1 and reads[0]["payload"] == {"after": 0, "until": seen[-1]}


def test_a_cursor_is_the_callers_own(client: TestClient, world: World) -> None:
    auditor = world.auth("auditor")
    first = client.get("/api/v1/audit/events", params={"limit": 2}, headers=auditor).json()
    values, _, mac = first["next"].rpartition(".")
    carrier, after, _until = values.split(".")
    forged = f"{carrier}.{after}.9999.{mac}"
    r = client.get("/api/v1/audit/events", params={"cursor": forged}, headers=auditor)
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
