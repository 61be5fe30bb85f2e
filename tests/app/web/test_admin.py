"""The administration pages through the ASGI app, on both databases."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.app.web.test_pages import _log_in
from tests.factories import PASSWORD, World

NEW_PASSWORD = "a long initial password"


@pytest.fixture
def admin(client: TestClient, world: World) -> Iterator[tuple[TestClient, str]]:
    yield client, _log_in(client, "admin")


def _events(engine: Engine, action: str) -> list[dict[str, object]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT payload FROM custody_event WHERE action = :a ORDER BY seq"), {"a": action}
        )
        return [json.loads(row[0]) for row in rows]


def _all_payloads(engine: Engine) -> str:
    with engine.connect() as conn:
        return "\n".join(conn.execute(text("SELECT payload FROM custody_event")).scalars())


class TestStations:
    def test_the_key_is_shown_once_and_works(
        self, admin: tuple[TestClient, str], engine: Engine,
        memory_lapses: Callable[[], None],
    ) -> None:
        client, token = admin
        r = client.post("/admin/stations", data={"name": "desk-9", "kind": "desk",
                                                 "location": "DESK", "csrf_token": token})
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-store"
        assert "will not be shown again" in r.text
        key = re.search(r'<textarea id="api-key"[^>]*>([^<]+)</textarea>', r.text)
        assert key is not None
        api_key = key.group(1).strip()
        me = client.get("/api/v1/stations/me", headers={"X-API-Key": api_key})
        assert me.status_code == 200 and me.json()["name"] == "desk-9"
        listing = client.get("/admin/stations")
        assert "desk-9" in listing.text and api_key not in listing.text
        assert api_key not in _all_payloads(engine) and api_key[:12] not in listing.text
        assert _events(engine, "admin_station_created")[-1]["name"] == "desk-9"

        r = client.post("/admin/stations/desk-9/revoke", data={"csrf_token": token},
                        follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, "/admin/stations")
        page = client.get("/admin/stations").text
        assert "The key of station desk-9 is revoked." in page
        assert "The key of station desk-9 is revoked." not in client.get("/admin/stations").text
        # A key check is remembered for a second (app.auth.deps.Callers), not longer.
        memory_lapses()
        assert client.get("/api/v1/stations/me", headers={"X-API-Key": api_key}).status_code == 401
        assert _events(engine, "admin_station_revoked")[-1]["name"] == "desk-9"

    def test_a_bad_name_is_refused(self, admin: tuple[TestClient, str]) -> None:
        client, token = admin
        r = client.post("/admin/stations", data={"name": "no spaces", "kind": "desk",
                                                 "location": "DESK", "csrf_token": token})
        assert r.status_code == 422 and "name" in r.text


class TestUsers:
    def test_create_then_deactivate(
        self, admin: tuple[TestClient, str], engine: Engine
    ) -> None:
        client, token = admin
        r = client.post("/admin/users", data={
            "username": "nurse.li", "display_name": "Li Na", "role": "clinician",
            "password": NEW_PASSWORD, "csrf_token": token,
        })
        assert r.status_code == 200 and "The account nurse.li is created." in r.text
        assert "Li Na" in r.text
        created = _events(engine, "admin_user_created")[-1]
        assert created["username"] == "nurse.li" and created["role"] == "clinician"
        assert NEW_PASSWORD not in _all_payloads(engine)

        r = client.post("/admin/users/nurse.li/role", data={"role": "clerk",
                                                            "csrf_token": token})
        assert r.status_code == 200 and "nurse.li is now: clerk." in r.text
        assert _events(engine, "admin_user_role_changed")[-1]["to"] == "clerk"

        r = client.post("/admin/users/nurse.li/deactivate", data={"csrf_token": token})
        assert r.status_code == 200 and "The account nurse.li is deactivated." in r.text
        assert _events(engine, "admin_user_deactivated")[-1]["username"] == "nurse.li"
        login = client.post("/api/v1/auth/token",
                            data={"username": "nurse.li", "password": NEW_PASSWORD})
        assert login.status_code == 401

    def test_an_admin_cannot_deactivate_themself(
        self, admin: tuple[TestClient, str], engine: Engine
    ) -> None:
        client, token = admin
        page = client.get("/admin/users").text
        assert "/admin/users/admin/deactivate" not in page  # not offered
        r = client.post("/admin/users/admin/deactivate", data={"csrf_token": token})
        assert r.status_code == 409 and "your own account" in r.text
        assert _events(engine, "admin_user_deactivated") == []


class TestLocationsAndBorrowers:
    def test_a_location_is_added_under_its_parent(
        self, admin: tuple[TestClient, str], engine: Engine
    ) -> None:
        client, token = admin
        r = client.post("/admin/locations", data={
            "parent": "ARCH", "kind": "cabinet", "code": "cab9", "name": "Cabinet 9",
            "tag_uid": "04:aa:bb:cc:dd:ee:ff", "csrf_token": token,
        })
        assert r.status_code == 200, r.text
        assert "City Hospital / Archive / Cabinet 9 is added." in r.text
        # In the tree, nested under the archive, with its tag.
        tree = r.text.split('class="tree"', 1)[1].split("</div>", 1)[0]
        under_archive = (
            r'>ARCH</span> Archive <span class="kind">room</span><ul>\s*(<li>[^\n]*\n\s*)*'
            r'<li><span class="mono">CAB9</span> Cabinet 9 <span class="kind">cabinet</span> '
            r'<span class="uid">tag 04AABBCCDDEEFF</span>'
        )
        assert re.search(under_archive, tree), tree
        event = _events(engine, "admin_location_created")[-1]
        assert event == {"code": "CAB9", "kind": "cabinet", "parent": "ARCH",
                         "tag_uid": "04AABBCCDDEEFF"}

    def test_a_borrower_is_added(self, admin: tuple[TestClient, str], engine: Engine) -> None:
        client, token = admin
        r = client.post("/admin/borrowers", data={
            "name": "Dr Zhao", "department": "Oncology", "kind": "staff", "csrf_token": token,
        })
        assert r.status_code == 200 and "Dr Zhao can now borrow." in r.text
        assert "Oncology" in r.text
        assert _events(engine, "admin_borrower_created")[-1]["name"] == "Dr Zhao"

    def test_a_clerk_adds_borrowers_but_is_refused_the_rest(
        self, client: TestClient, world: World, engine: Engine
    ) -> None:
        token = _log_in(client, "clerk")
        index = client.get("/admin")
        assert index.status_code == 200
        assert "/admin/borrowers" in index.text and "/admin/users" not in index.text
        r = client.post("/admin/borrowers", data={"name": "Radiology", "kind": "department",
                                                  "csrf_token": token})
        assert r.status_code == 200
        for path in ("/admin/users", "/admin/stations", "/admin/locations", "/admin/site"):
            r = client.get(path)
            assert r.status_code == 403, path
        denied = _events(engine, "denied")
        assert {"permission": "users.manage", "route": "GET /admin/users"} in denied
        assert {"permission": "stations.manage", "route": "GET /admin/stations"} in denied


class TestSite:
    def test_the_name_shows_in_the_header_and_on_the_tag_page(
        self, admin: tuple[TestClient, str], world: World, engine: Engine
    ) -> None:
        client, token = admin
        label = world.labels[0]
        assert "MediaTrack" in client.get(f"/c/{label}").text
        r = client.post("/admin/site", data={
            "site_name": "第一人民医院 <b>", "purposes": "TREAT, HRESCH, MDT",
            "approval_purposes": "HRESCH", "csrf_token": token,
        }, follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, "/admin/site")
        page = client.get("/admin/site").text
        assert '<span class="site">第一人民医院 &lt;b&gt;</span>' in page
        assert "第一人民医院 &lt;b&gt;" in client.get(f"/c/{label}").text
        assert _events(engine, "admin_site_changed")[-1] == {
            "site_name": "第一人民医院 <b>", "purposes": ["TREAT", "HRESCH", "MDT"],
            "approval_purposes": ["HRESCH"],
        }

    def test_purposes_show_in_the_desks_form_and_bind_the_service(
        self, admin: tuple[TestClient, str], world: World
    ) -> None:
        client, token = admin
        label = world.labels[0]
        client.post("/admin/site", data={"site_name": "City Hospital", "purposes": "TREAT MDT",
                                         "csrf_token": token})
        card = client.get(f"/desk/carriers/{label}").text
        options = re.findall(r'<option value="([A-Z]+)">', card.split('id="purpose"', 1)[1]
                             .split("</select>", 1)[0])
        assert options == ["TREAT", "MDT"]
        refused = client.post(
            f"/api/v1/carriers/{label}/checkout",
            json={"borrower_id": world.borrower_id, "purpose": "PATRQT"},
            headers=world.auth("clerk"),
        )
        assert refused.status_code == 422 and "TREAT, MDT" in refused.json()["detail"]
        r = client.post(f"/desk/carriers/{label}/checkout", headers={"X-CSRF-Token": token},
                        data={"borrower": f"x #{world.borrower_id}", "purpose": "MDT"})
        assert r.status_code == 200 and "Lent out." in r.text

    def test_an_approval_purpose_must_be_a_purpose(self, admin: tuple[TestClient, str]) -> None:
        client, token = admin
        r = client.post("/admin/site", data={"site_name": "X", "purposes": "TREAT",
                                             "approval_purposes": "HRESCH",
                                             "csrf_token": token})
        assert r.status_code == 422
        assert "MediaTrack" in client.get("/admin/site").text


def test_a_new_account_logs_in_on_the_page(admin: tuple[TestClient, str]) -> None:
    client, token = admin
    client.post("/admin/users", data={"username": "clerk2", "display_name": "Clerk Two",
                                      "role": "clerk", "password": PASSWORD,
                                      "csrf_token": token})
    client.cookies.clear()
    _log_in(client, "clerk2")
    assert "Clerk Two" in client.get("/where").text
