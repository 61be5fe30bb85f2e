"""Locations: the tree, printable paths, and tags that mark a place rather than a carrier."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.factories import World, tag_uid


def location_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM location")).scalar_one())


def test_a_new_shelf_gets_the_full_path_and_a_normalised_tag(
    client: TestClient, world: World
) -> None:
    r = client.post(
        "/api/v1/locations",
        json={
            "code": "SHELF9",
            "name": "Shelf 9",
            "kind": "shelf",
            "parent": "ARCH",
            "tag_uid": "e0:04:01:00:12:34:56:78",
        },
        headers=world.auth("admin"),
    )
    assert r.status_code == 201, r.text
    assert r.json()["path"] == "City Hospital / Archive / Shelf 9"
    assert r.json()["tag_uid"] == "E004010012345678"
    r = client.get("/api/v1/locations/SHELF9", headers=world.auth("station"))
    assert r.status_code == 200 and r.json()["parent"] == "ARCH"


def test_a_carriers_tag_cannot_mark_a_location(
    client: TestClient, world: World, engine: Engine
) -> None:
    before = location_count(engine)
    r = client.post(
        "/api/v1/locations",
        json={"code": "SHELF9", "name": "Shelf 9", "kind": "shelf", "tag_uid": tag_uid(1).lower()},
        headers=world.auth("admin"),
    )
    assert r.status_code == 409, r.text
    assert r.json() == {
        "error": "conflict",
        "detail": f"Tag {tag_uid(1)} labels the carrier {world.labels[0]}, not a location.",
    }
    assert location_count(engine) == before


def test_a_locations_tag_cannot_label_a_carrier_or_another_location(
    client: TestClient, world: World, engine: Engine
) -> None:
    uid = "04AABBCCDDEE80"
    body = {"code": "SHELF9", "name": "Shelf 9", "kind": "shelf", "tag_uid": uid}
    assert (
        client.post("/api/v1/locations", json=body, headers=world.auth("admin")).status_code == 201
    )
    r = client.post(
        f"/api/v1/carriers/{world.labels[0]}/tag",
        json={"tag_uid": uid},
        headers=world.auth("clerk"),
    )
    assert r.status_code == 409 and "marks a location" in r.json()["detail"]
    before = location_count(engine)
    other = {**body, "code": "SHELF8"}
    r = client.post("/api/v1/locations", json=other, headers=world.auth("admin"))
    assert r.status_code == 409
    assert location_count(engine) == before


def test_a_tag_taken_off_a_carrier_may_mark_a_location(client: TestClient, world: World) -> None:
    """Relabelling frees the old tag: it no longer labels anything and may mark a shelf."""
    r = client.post(
        f"/api/v1/carriers/{world.labels[0]}/tag",
        json={"tag_uid": "04AABBCCDDEE80"},
        headers=world.auth("clerk"),
    )
    assert r.status_code == 200, r.text
    r = client.post(
        "/api/v1/locations",
        json={"code": "SHELF9", "name": "Shelf 9", "kind": "shelf", "tag_uid": tag_uid(1)},
        headers=world.auth("admin"),
    )
    assert r.status_code == 201, r.text
