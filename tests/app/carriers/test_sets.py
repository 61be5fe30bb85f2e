"""Sets of carriers ("disc 2 of 3"): the parts share a set key, so their siblings are known."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.factories import World


def _register(client: TestClient, world: World, label: str, **extra: Any) -> Any:
    body = {"label": label, "kind": "DVD", "home_location": "SHELF1", **extra}
    return client.post("/api/v1/carriers", json=body, headers=world.auth("clerk"))


def test_a_set_key_needs_set_information(client: TestClient, world: World) -> None:
    r = _register(client, world, "SETPART1", set_key="EXAM7")
    assert r.status_code == 422 and "set_key" in r.json()["detail"]


def test_the_parts_still_out_are_named_on_the_desk(client: TestClient, world: World) -> None:
    from tests.app.web.test_pages import _log_in

    for n in (1, 2, 3):
        r = _register(client, world, f"SETPART{n}", set_number=n, set_total=3, set_key="EXAM7")
        assert r.status_code == 201, r.text
        assert r.json()["set_key"] == "EXAM7"
        client.post(f"/api/v1/carriers/SETPART{n}/store", json={"location": "SHELF1"},
                    headers=world.auth("clerk"))
        lent = client.post(f"/api/v1/carriers/SETPART{n}/checkout",
                           json={"borrower_id": world.borrower_id, "purpose": "TREAT"},
                           headers=world.auth("clerk"))
        assert lent.status_code == 200, lent.text
    _log_in(client, "clerk")
    card = client.get("/desk/carriers/SETPART1").text
    assert "Still out from this set: SETPART2 (disc 2 of 3), SETPART3 (disc 3 of 3)" in card
    client.post("/api/v1/carriers/SETPART2/return", headers=world.auth("clerk"))
    card = client.get("/desk/carriers/SETPART1").text
    assert "Still out from this set: SETPART3 (disc 3 of 3)" in card
