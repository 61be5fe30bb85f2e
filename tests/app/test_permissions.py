"""The permission matrix, generated from the app's own route table.

For every /api/v1 route and every role: anonymous callers get 401; a role the permission table
does not list gets 403 ``forbidden`` and a "denied" entry in the custody log; a listed role is
never refused (it may still get 404/409/422 for the dummy body). An explicit table below
states what a handful of key routes must allow, so the test does not only mirror the code.
"""

from __future__ import annotations

import inspect
import json
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlmodel import select

from app.core.config import Settings
from app.core.db import session_scope
from app.core.permissions import PERMISSIONS
from app.core.principal import SYSTEM, Principal, Role
from app.custody import schemas as custody_schemas
from app.custody import service as custody_service
from app.inventory import service as inventory_service
from app.inventory.schemas import CampaignCreate
from app.main import create_app
from app.requests import service as request_service
from app.requests.schemas import RequestCreate
from app.users.models import User
from tests.factories import World, make_carrier, site_today, study_in

ROLES = ("clerk", "clinician", "auditor", "admin", "station", "anonymous")
PUBLIC_ROUTES = {("POST", "/api/v1/auth/token")}
PREFIX = "/api/v1"

# Written by hand, not copied from app/core/permissions.py: who may do what, said a second time,
# so a change to the permission table has to be made here on purpose too.
EXPECTED: dict[tuple[str, str], set[str]] = {
    # auditors are read-only: they never lend, move or change a carrier
    ("POST", "/api/v1/carriers/{label}/checkout"): {"clerk", "admin"},
    ("POST", "/api/v1/carriers/{label}/return"): {"clerk", "admin"},
    ("POST", "/api/v1/transfers"): {"clerk", "admin"},
    ("POST", "/api/v1/carriers"): {"clerk", "admin"},
    ("POST", "/api/v1/carriers/{label}/retire"): {"admin"},
    ("POST", "/api/v1/carriers/{label}/hold"): {"admin"},
    # only auditors read or verify the log, or sign checkpoints of it
    ("GET", "/api/v1/audit/events"): {"auditor"},
    ("GET", "/api/v1/audit/verify"): {"auditor"},
    ("POST", "/api/v1/audit/verify"): {"auditor"},
    ("POST", "/api/v1/audit/checkpoints"): {"auditor"},
    # only stations post scans (the station is taken from the key)
    ("POST", "/api/v1/scans"): {"station"},
    # admins manage users and stations
    ("POST", "/api/v1/users"): {"admin"},
    ("GET", "/api/v1/users"): {"admin"},
    ("POST", "/api/v1/users/{username}/deactivate"): {"admin"},
    ("POST", "/api/v1/stations"): {"admin"},
    ("GET", "/api/v1/stations"): {"admin"},
    ("POST", "/api/v1/stations/{name}/revoke"): {"admin"},
    ("POST", "/api/v1/stations/{name}/rotate-key"): {"admin"},
    # clinicians ask for carriers; clerks fetch and lend them
    ("POST", "/api/v1/requests"): {"clerk", "clinician", "admin"},
    ("POST", "/api/v1/requests/{request_id}/fulfil"): {"clerk", "admin"},
    ("GET", "/api/v1/requests/pull-list"): {"clerk", "admin"},
    # "where is it" is for staff, not for reader stations
    ("GET", "/api/v1/where"): {"clerk", "clinician", "auditor", "admin"},
    # clerks run inventories, a handheld station sweeps, auditors read the reports
    ("POST", "/api/v1/inventory/campaigns"): {"clerk", "admin"},
    ("POST", "/api/v1/inventory/campaigns/{campaign_id}/reads"): {"clerk", "admin", "station"},
    ("POST", "/api/v1/inventory/campaigns/{campaign_id}/close"): {"clerk", "admin"},
    ("GET", "/api/v1/inventory/campaigns/{campaign_id}/report"): {"clerk", "auditor", "admin"},
    # everybody who logs in (and a station) can read a carrier
    ("GET", "/api/v1/carriers/{label}"): {"clerk", "clinician", "auditor", "admin", "station"},
}


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    permissions: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


def _permissions_of(dependant: Dependant, prefix: str = "require_") -> Iterator[str]:
    """The permissions named by the ``require_<permission>`` (API) or ``page_<permission>``
    (web page) dependencies, at any depth."""
    for sub in dependant.dependencies:
        call = sub.call
        if getattr(call, "__name__", "").startswith(prefix):
            assert call is not None
            permission = inspect.getclosurevars(call).nonlocals["permission"]
            assert call.__name__ == f"{prefix}{permission.replace('.', '_')}"
            yield permission
        yield from _permissions_of(sub, prefix)


def _app_routes(app: FastAPI, *, pages: bool = False) -> list[Route]:
    """The API routes, or (``pages``) the web pages' routes with their ``page_`` permission."""
    routes = []
    for context in iter_route_contexts(app.routes):
        if not isinstance(context.original_route, APIRoute):
            continue
        assert context.path is not None and context.methods
        if context.path.startswith(PREFIX + "/") == pages:
            continue
        if pages:
            # Web pages stay out of the API schema and name their permission with page(...).
            assert not context.original_route.include_in_schema, context.path
        prefix = "page_" if pages else "require_"
        found = tuple(sorted(set(_permissions_of(context.dependant, prefix))))
        for method in sorted(context.methods):
            routes.append(Route(method, context.path, found))
    return routes


def _dependencies(dependant: Dependant) -> Iterator[str]:
    for sub in dependant.dependencies:
        yield getattr(sub.call, "__name__", "")
        yield from _dependencies(sub)


# The route table does not depend on the database: read it once, at collection time, from an
# app whose engine never connects.
_UNUSED_DB = Path(tempfile.gettempdir()) / "mediatrack-route-table-never-opened.db"
_APP = create_app(Settings(DATABASE_URL=f"sqlite:///{_UNUSED_DB}", SECRET_KEY="x" * 40))
ROUTES = _app_routes(_APP)
PROTECTED = [r for r in ROUTES if (r.method, r.path) not in PUBLIC_ROUTES]
PAGES = _app_routes(_APP, pages=True)
# Pages anyone may open: logging in, the language switch, the API documents, the public page
# a tag's URI opens.
PUBLIC_PAGES = {
    ("GET", "/"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("GET", "/lang/{locale}"),
    ("GET", "/c/{label}"),
    ("GET", "/docs"),
    ("GET", "/redoc"),
    ("GET", "/openapi.json"),  # app.core.openapi: the document, with the site's purposes
}


def test_every_page_names_one_permission_of_the_table() -> None:
    assert PAGES, "no page routes found: the route walk is broken"
    assert {(r.method, r.path) for r in PAGES} >= PUBLIC_PAGES
    wrong = {
        r.id: r.permissions
        for r in PAGES
        if (len(r.permissions) != 1) != ((r.method, r.path) in PUBLIC_PAGES)
    }
    assert wrong == {}
    assert all(p in PERMISSIONS for r in PAGES for p in r.permissions)


def test_every_page_post_checks_the_csrf_token() -> None:
    posts = [
        c
        for c in iter_route_contexts(_APP.routes)
        if isinstance(c.original_route, APIRoute)
        and c.path
        and not c.path.startswith(PREFIX + "/")
        and "POST" in (c.methods or ())
    ]
    assert posts
    unchecked = [c.path for c in posts if "check_csrf" not in set(_dependencies(c.dependant))]
    assert unchecked == []


def test_every_route_is_under_the_api_prefix() -> None:
    assert ROUTES, "no API routes found: the route walk is broken"
    assert all(r.path.startswith(PREFIX + "/") for r in ROUTES)


def test_every_api_route_has_exactly_one_permission() -> None:
    wrong = {r.id: r.permissions for r in PROTECTED if len(r.permissions) != 1}
    assert wrong == {}
    assert all(r.permissions[0] in PERMISSIONS for r in PROTECTED)
    public = {r.id: r.permissions for r in ROUTES if (r.method, r.path) in PUBLIC_ROUTES}
    assert public == {"POST /api/v1/auth/token": ()}


def test_every_permission_in_the_table_is_used() -> None:
    used = {r.permissions[0] for r in PROTECTED}
    assert used == set(PERMISSIONS)


def test_app_routes_equal_openapi_paths() -> None:
    spec = _APP.openapi()
    documented = {
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method in operations
    }
    assert {(r.method, r.path) for r in ROUTES} == documented


def test_explicit_table_matches_the_permission_table() -> None:
    by_key = {(r.method, r.path): r for r in PROTECTED}
    missing = set(EXPECTED) - set(by_key)
    assert missing == set(), "routes in the expected table are gone from the app"
    actual = {
        key: {role.value for role in PERMISSIONS[by_key[key].permissions[0]]} for key in EXPECTED
    }
    assert actual == EXPECTED


def test_no_mutating_route_lets_an_auditor_in() -> None:
    audit_log_routes = {"/api/v1/audit/verify", "/api/v1/audit/checkpoints"}
    for route in PROTECTED:
        if route.method == "GET" or route.path in audit_log_routes:
            continue
        allowed = {role.value for role in PERMISSIONS[route.permissions[0]]}
        assert "auditor" not in allowed, route.id


# --- the matrix, on both databases ---------------------------------------------------------


def _fill(path: str, values: dict[str, str]) -> str:
    names = re.findall(r"{(\w+)}", path)
    unknown = [n for n in names if n not in values]
    assert not unknown, f"add a value for path parameter(s) {unknown} of {path}"
    for name in names:
        path = path.replace("{" + name + "}", values[name])
    return path


def _denied(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT payload FROM custody_event WHERE action = 'denied' ORDER BY seq")
        )
        return [json.loads(row[0]) for row in rows]


def _event_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM custody_event")).scalar_one())


@pytest.fixture
def path_values(world: World, engine: Engine, settings: Settings) -> dict[str, str]:
    """Existing values for every path parameter (none of them used to authenticate)."""
    label = make_carrier(engine, "PERM0001", study=None)
    with session_scope(engine) as session:
        transfer = custody_service.dispatch(
            session=session,
            principal=SYSTEM,
            dispatch_in=custody_schemas.Dispatch(labels=[label], to_location="VAULT"),
            today=site_today(settings),
        )
        clinician = session.exec(select(User).where(User.username == "clinician")).one()
        asked = request_service.create(
            session=session,
            principal=Principal(kind="user", id=clinician.id, role=Role.CLINICIAN),
            request_in=RequestCreate(
                carrier=world.labels[1], purpose="TREAT", needed_on=date.today() + timedelta(days=1)
            ),
            settings=settings,
        )
        campaign = inventory_service.create_campaign(
            session=session,
            principal=SYSTEM,
            campaign_in=CampaignCreate(
                name="Perm", scope="ARCH", starts_on=date.today(), ends_on=date.today()
            ),
        )
    return {
        "campaign_id": str(campaign.id),
        "label": world.labels[0],
        "transfer_id": str(transfer.id),
        "request_id": str(asked.id),
        "username": "admin2",
        "name": "desk-2",
        "code": "SHELF1",
        "study_uid": study_in(1).study_uid,
        "job_id": "1",  # none yet: a station gets past the permission check to a 404
    }


@pytest.mark.parametrize("route", PROTECTED, ids=lambda r: r.id)
def test_matrix(
    route: Route,
    client: TestClient,
    world: World,
    engine: Engine,
    path_values: dict[str, str],
) -> None:
    permission = route.permissions[0]
    allowed = {role.value for role in PERMISSIONS[permission]}
    url = _fill(route.path, path_values)
    # Denied and anonymous callers first: an allowed call may change what exists.
    for role in sorted(ROLES, key=lambda r: r in allowed):
        body = {} if route.method == "POST" else None
        before = _denied(engine)
        r = client.request(route.method, url, json=body, headers=world.auth(role))
        where = f"{role} on {route.id}: {r.status_code} {r.text[:200]}"
        assert r.status_code < 500, where
        if role == "anonymous":
            assert r.status_code == 401, where
            assert r.json()["error"] == "unauthorized", where
        elif role not in allowed:
            assert r.status_code == 403, where
            assert set(r.json()) == {"error", "detail"}, where
            assert r.json()["error"] == "forbidden", where
            after = _denied(engine)
            assert len(after) == len(before) + 1, where
            assert after[-1] == {"permission": permission, "route": route.id}, where
        else:
            assert r.status_code not in (401, 403), where
            assert _denied(engine) == before, where


def test_denied_entry_names_the_actor(client: TestClient, world: World, engine: Engine) -> None:
    size = _event_count(engine)
    r = client.post(
        f"/api/v1/carriers/{world.labels[0]}/checkout",
        json={"borrower_id": world.borrower_id, "purpose": "TREAT"},
        headers=world.auth("auditor"),
    )
    assert r.status_code == 403
    assert _event_count(engine) == size + 1
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT action, actor_kind, actor_role, carrier_id FROM custody_event "
                "ORDER BY seq DESC LIMIT 1"
            )
        ).one()
    assert tuple(row) == ("denied", "user", "auditor", None)
    # The refused checkout changed nothing.
    carrier = client.get(f"/api/v1/carriers/{world.labels[0]}", headers=world.auth("clerk"))
    assert carrier.json()["status"] == "in_storage"


def test_no_secret_in_any_read(client: TestClient, world: World) -> None:
    """Password hashes, key hashes and tokens never leave the service (the new station's key
    is shown once, in the answer that creates it)."""
    reads = [
        ("/api/v1/users", "admin"),
        ("/api/v1/stations", "admin"),
        ("/api/v1/carriers", "clerk"),
        ("/api/v1/borrowers", "clerk"),
        ("/api/v1/locations", "clerk"),
        ("/api/v1/audit/events?limit=500", "auditor"),
    ]
    created = client.post(
        "/api/v1/stations", json={"name": "desk-9", "location": "DESK"}, headers=world.auth("admin")
    )
    assert created.status_code == 201
    new_key = created.json()["api_key"]
    secrets = [new_key, world.station_key, *world.tokens.values(), "$argon2", "password"]
    for path, role in reads:
        r = client.get(path, headers=world.auth(role))
        assert r.status_code == 200, r.text
        found = [s[:12] for s in secrets if s.lower() in r.text.lower()]
        assert found == [], path
        assert "key_hash" not in r.text and "key_prefix" not in r.text, path
