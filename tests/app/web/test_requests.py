"""The request pages through the ASGI app, on both databases."""

from __future__ import annotations

import re
from datetime import date, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.app.web.test_pages import _log_in
from tests.factories import World

NEEDED = (date.today() + timedelta(days=3)).isoformat()


def test_asked_on_the_page_fulfilled_from_the_pull_list(
    client: TestClient, world: World, engine: Engine
) -> None:
    label = world.labels[0]
    token = _log_in(client, "clinician")
    form = client.get(f"/requests?carrier={label}").text
    assert f'value="{label}"' in form and '<option value="TREAT">' in form
    r = client.post("/requests", data={"carrier": label.lower(), "purpose": "TREAT",
                                       "needed_on": NEEDED, "note": "MDT <Friday>",
                                       "csrf_token": token}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/requests")
    page = client.get("/requests").text
    assert f"Your request for {label} is recorded." in page
    assert "waiting to be fetched" in page
    assert client.get("/requests/pull").status_code == 403  # a clinician does not pull

    client.cookies.clear()
    token = _log_in(client, "clerk")
    pull = client.get("/requests/pull").text
    assert '<h2 class="place">City Hospital / Archive / Shelf 1</h2>' in pull
    assert "MDT &lt;Friday&gt;" in pull and "Clinician" in pull
    request_id = re.search(r'action="/requests/(\d+)/fulfil"', pull)
    assert request_id is not None
    r = client.post(f"/requests/{request_id.group(1)}/fulfil", data={"csrf_token": token})
    assert r.status_code == 200 and f"{label} is lent to Clinician." in r.text
    assert "Nothing to fetch" in r.text

    client.cookies.clear()
    _log_in(client, "clinician")
    assert "lent to you" in client.get("/requests").text
    with engine.connect() as conn:
        denied = conn.execute(
            text("SELECT payload FROM custody_event WHERE action = 'denied'")
        ).scalars().all()
    assert any("GET /requests/pull" in p for p in denied)


def test_the_desk_card_names_who_waits_once_the_carrier_is_back(
    client: TestClient, world: World
) -> None:
    label = world.labels[0]
    lent = client.post(f"/api/v1/carriers/{label}/checkout", headers=world.auth("clerk"),
                       json={"borrower_id": world.borrower_id, "purpose": "TREAT"})
    assert lent.status_code == 200
    asked = client.post("/api/v1/requests", headers=world.auth("clinician"),
                        json={"carrier": label, "purpose": "HLEGAL", "needed_on": NEEDED})
    assert asked.json()["state"] == "queued"
    token = _log_in(client, "clerk")
    assert "Nothing to fetch" in client.get("/requests/pull").text
    r = client.post(f"/desk/carriers/{label}/return", data={"location": ""},
                    headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and "Taken back." in r.text
    assert "Requested by Clinician for" in r.text and "(HLEGAL)" in r.text
    assert label in client.get("/requests/pull").text


def test_the_pages_in_chinese(client: TestClient, world: World) -> None:
    client.cookies.set("mediatrack_lang", "zh_CN")
    _log_in(client, "clerk")
    assert "申请调阅介质" in client.get("/requests").text
    assert "取件单" in client.get("/requests/pull").text
    assert "系统管理" in client.get("/admin").text
