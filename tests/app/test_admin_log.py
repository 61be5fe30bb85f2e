"""Every administrative change is in the custody log, once, whether the API, a page or the
command line made it (the services log it), and no password, hash or key is in it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from app.cli import cli
from app.core.config import Settings
from tests.app.web.test_pages import _log_in
from tests.factories import PASSWORD, World

NEW_PASSWORD = "another long enough password"


def _logged(engine: Engine, since: int) -> list[tuple[str, str, int | None, dict[str, object]]]:
    """(action, actor role, actor id, payload) of each event after seq ``since``."""
    query = text("SELECT action, actor_role, actor_id, payload FROM custody_event "
                 "WHERE seq > :s ORDER BY seq")
    with engine.connect() as conn:
        return [(r[0], r[1], r[2], json.loads(r[3])) for r in conn.execute(query, {"s": since})]


def _head(engine: Engine) -> int:
    with engine.connect() as conn:
        head = conn.execute(text("SELECT coalesce(max(seq), 0) FROM custody_event"))
        return int(head.scalar_one())


def _user_id(engine: Engine, username: str) -> int:
    with engine.connect() as conn:
        query = text("SELECT id FROM app_user WHERE username = :u")
        return int(conn.execute(query, {"u": username}).scalar_one())


def _no_secrets(engine: Engine, *secrets: str) -> None:
    with engine.connect() as conn:
        logged = "\n".join(conn.execute(text("SELECT payload FROM custody_event")).scalars())
        hashes = list(conn.execute(text("SELECT password_hash FROM app_user")).scalars())
    for secret in [*secrets, *hashes, "password", "api_key", "key_hash"]:
        assert secret not in logged


def test_api_changes_are_logged_once_each_by_the_admin(
    client: TestClient, world: World, engine: Engine
) -> None:
    admin = world.auth("admin")
    start = _head(engine)
    calls = [
        ("/api/v1/users", {"username": "nurse.li", "display_name": "Li Na", "role": "clerk",
                           "password": NEW_PASSWORD}),
        ("/api/v1/users/nurse.li/deactivate", None),
        ("/api/v1/locations", {"code": "SHELF9", "name": "Shelf 9", "kind": "shelf",
                               "parent": "ARCH"}),
        ("/api/v1/stations", {"name": "desk-9", "location": "DESK"}),
        ("/api/v1/stations/desk-9/rotate-key", None),
        ("/api/v1/stations/desk-9/revoke", None),
        ("/api/v1/borrowers", {"name": "Dr Zhao", "department": "Oncology", "kind": "staff"}),
    ]
    keys = []
    for path, body in calls:
        r = client.post(path, json=body, headers=admin)
        assert r.status_code in (200, 201), r.text
        keys += [r.json()["api_key"]] if "api_key" in r.json() else []
    logged = _logged(engine, start)
    assert [action for action, *_ in logged] == [
        "admin_user_created",
        "admin_user_deactivated",
        "admin_location_created",
        "admin_station_created",
        "admin_station_key_rotated",
        "admin_station_revoked",
        "admin_borrower_created",
    ]
    assert {(role, actor) for _, role, actor, _ in logged} == {
        ("admin", _user_id(engine, "admin"))
    }
    payloads = [payload for *_, payload in logged]
    assert payloads[0] | {"user_id": None} == {
        "user_id": None, "username": "nurse.li", "role": "clerk"}
    assert payloads[2]["code"] == "SHELF9" and payloads[2]["parent"] == "ARCH"
    assert payloads[3]["name"] == "desk-9" and payloads[3]["location"] == "DESK"
    assert payloads[6] | {"borrower_id": None} == {
        "borrower_id": None, "name": "Dr Zhao", "kind": "staff"}
    _no_secrets(engine, NEW_PASSWORD, PASSWORD, *keys)


def test_refused_changes_log_nothing(client: TestClient, world: World, engine: Engine) -> None:
    """A change the service refuses is rolled back with its event."""
    start = _head(engine)
    r = client.post("/api/v1/users/admin/deactivate", headers=world.auth("admin"))
    assert r.status_code == 409
    r = client.post("/api/v1/stations", json={"name": "desk-1", "location": "DESK"},
                    headers=world.auth("admin"))
    assert r.status_code == 409
    assert _logged(engine, start) == []


def test_page_changes_are_logged_once_each(
    client: TestClient, world: World, engine: Engine
) -> None:
    token = _log_in(client, "admin")
    start = _head(engine)
    forms = [
        ("/admin/users", {"username": "nurse.li", "display_name": "Li Na", "role": "clinician",
                          "password": NEW_PASSWORD}),
        ("/admin/users/nurse.li/role", {"role": "clerk"}),
        ("/admin/site", {"site_name": "City Hospital", "purposes": "TREAT HRESCH",
                         "approval_purposes": "HRESCH"}),
    ]
    for path, form in forms:
        r = client.post(path, data={**form, "csrf_token": token})
        assert r.status_code == 200, r.text
    logged = _logged(engine, start)
    assert [action for action, *_ in logged] == [
        "admin_user_created", "admin_user_role_changed", "admin_site_changed"]
    assert logged[1][3] | {"user_id": None} == {
        "user_id": None, "username": "nurse.li", "from": "clinician", "to": "clerk"}
    assert logged[2][3] == {"site_name": "City Hospital", "purposes": ["TREAT", "HRESCH"],
                            "approval_purposes": ["HRESCH"]}
    _no_secrets(engine, NEW_PASSWORD)


@pytest.fixture
def env(db_url: str, tmp_path: Path, settings: Settings) -> dict[str, str]:
    return {
        "MEDIATRACK_DATA_DIR": str(tmp_path / "cli-data"),
        "MEDIATRACK_DATABASE_URL": db_url,
        "MEDIATRACK_SECRET_KEY": settings.SECRET_KEY,
    }


def test_command_line_changes_are_logged_as_the_system(
    world: World, engine: Engine, env: dict[str, str]
) -> None:
    start = _head(engine)
    commands = [
        (["user", "create", "nurse.li", "--role", "clerk", "--password-stdin"],
         NEW_PASSWORD + "\n"),
        (["location", "add", "SHELF9", "--name", "Shelf 9", "--kind", "shelf",
          "--parent", "ARCH"], None),
        (["station", "create", "desk-9", "--location", "DESK"], None),
        (["station", "rotate-key", "desk-9", "--grace-minutes", "0"], None),
        (["station", "revoke", "desk-9"], None),
    ]
    keys = []
    for args, stdin in commands:
        result = CliRunner().invoke(cli, args, env=env, input=stdin)
        assert result.exit_code == 0, result.output
        keys.append(result.stdout.splitlines()[-1])
    logged = _logged(engine, start)
    assert [action for action, *_ in logged] == [
        "admin_user_created",
        "admin_location_created",
        "admin_station_created",
        "admin_station_key_rotated",
        "admin_station_revoked",
    ]
    assert {(role, actor) for _, role, actor, _ in logged} == {("system", None)}
    _no_secrets(engine, NEW_PASSWORD, *keys[2:4])
