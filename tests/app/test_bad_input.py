"""Bad input of every kind: a 4xx with ``{"error", "detail"}``, never a 500, nothing half-written.

Every failing request below is wrapped in ``unchanged(engine)``, which compares the row counts
of every custody table and the state of every carrier before and after.
"""

from __future__ import annotations

import inspect
import typing
import urllib.parse
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from httpx import Response
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from app.core.config import Settings
from app.core.permissions import PERMISSIONS
from tests.factories import World, study_in, tag_uid

TABLES = (
    "carrier",
    "tag",
    "tag_binding",
    "custody_event",
    "loan",
    "transfer",
    "transfer_item",
    "study",
    "carrier_study",
    "location",
    "borrower",
    "app_user",
    "station",
    "scan",
    "log_checkpoint",
)
TOMORROW = (date.today() + timedelta(days=1)).isoformat()


def snapshot(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        state: dict[str, Any] = {
            t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES
        }
        rows = conn.execute(
            text(
                "SELECT label, status, current_location_id, tag_id, legal_hold, last_seen_at "
                "FROM carrier ORDER BY label"
            )
        )
        state["carriers"] = [tuple(row) for row in rows]
        state["stations"] = [
            tuple(row)
            for row in conn.execute(
                text("SELECT name, last_seq, revoked_at, key_prefix FROM station")
            )
        ]
    return state


@contextmanager
def unchanged(engine: Engine) -> Iterator[None]:
    before = snapshot(engine)
    yield
    assert snapshot(engine) == before


def assert_error(r: Response, status: int, code: str | None = None) -> str:
    """The status, the two keys and nothing else, a sentence; returns the detail."""
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "detail"}, body
    if code is not None:
        assert body["error"] == code
    detail = body["detail"]
    assert isinstance(detail, str) and len(detail) > 10 and " " in detail, detail
    return detail


# --- unknown fields ------------------------------------------------------------------------


def valid_bodies(world: World, transfer_id: int) -> dict[tuple[str, str], tuple[str, Any]]:
    """(method, route) -> (role, a body the route accepts). Every route that reads a body."""
    label = world.labels[0]
    study = study_in(50).model_dump(mode="json")
    return {
        ("POST", "/api/v1/users"): (
            "admin",
            {
                "username": "newclerk",
                "display_name": "New Clerk",
                "role": "clerk",
                "password": "a long enough password",
            },
        ),
        ("POST", "/api/v1/carriers"): (
            "clerk",
            {"label": "NEW0000001", "kind": "DVD", "home_location": "SHELF1"},
        ),
        ("POST", f"/api/v1/carriers/{label}/tag"): ("clerk", {"tag_uid": "04AABBCCDDEE80"}),
        ("POST", f"/api/v1/carriers/{label}/studies"): ("clerk", {"studies": [study]}),
        ("POST", f"/api/v1/carriers/{label}/store"): ("clerk", {"location": "SHELF2"}),
        ("POST", f"/api/v1/carriers/{label}/checkout"): (
            "clerk",
            {"borrower_id": world.borrower_id, "purpose": "TREAT"},
        ),
        ("POST", f"/api/v1/carriers/{label}/return"): ("clerk", {"location": "SHELF1"}),
        ("POST", f"/api/v1/carriers/{label}/missing"): ("clerk", {"note": "not on shelf"}),
        ("POST", f"/api/v1/carriers/{label}/found"): ("clerk", {"location": "DESK"}),
        ("POST", f"/api/v1/carriers/{label}/hold"): ("admin", {"reason": "litigation"}),
        ("POST", f"/api/v1/carriers/{label}/release"): ("admin", {"reason": "case closed"}),
        ("POST", f"/api/v1/carriers/{label}/retire"): ("admin", {"reason": "migrated"}),
        ("POST", "/api/v1/transfers"): (
            "clerk",
            {"labels": [world.labels[1]], "to_location": "VAULT"},
        ),
        ("POST", f"/api/v1/transfers/{transfer_id}/receive"): ("clerk", {}),
        ("POST", "/api/v1/scans"): ("station", {"reads": [scan_read(1, tag_uid(1))]}),
        ("POST", "/api/v1/locations"): (
            "admin",
            {"code": "SHELF9", "name": "Shelf 9", "kind": "shelf", "parent": "ARCH"},
        ),
        ("POST", "/api/v1/borrowers"): ("clerk", {"name": "Dr Osei"}),
        ("POST", "/api/v1/stations"): ("admin", {"name": "desk-9", "location": "DESK"}),
        ("POST", "/api/v1/audit/verify"): (
            "auditor",
            {
                "origin": "MediaTrack",
                "size": 0,
                "head": "0" * 64,
                "signed_at": "2026-01-01T00:00:00Z",
                "key_id": "0" * 16,
                "public_key": "AAAA",
                "signature": "AAAA",
            },
        ),
    }


def scan_read(seq: int, uid: str, **changes: Any) -> dict[str, Any]:
    read = {
        "event_id": str(uuid.uuid4()),
        "station_seq": seq,
        "tag_uid": uid,
        "technology": "iso14443a",
        "read_at": datetime.now(UTC).isoformat(),
    }
    read.update(changes)
    return read


EXTRAS = {
    "role": "admin",
    "station_id": 2,
    "status": "destroyed",
    "chain_hash": "0" * 64,
    "holder_id": 1,
    "seq": 1,
}


def _dispatched(client: TestClient, world: World) -> int:
    r = client.post(
        "/api/v1/transfers",
        json={"labels": [world.labels[2]], "to_location": "VAULT"},
        headers=world.auth("clerk"),
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _body_routes(client: TestClient) -> list[tuple[str, str, set[str], str]]:
    """(method, path, body field names, a role allowed there) for every route with a body."""
    found = []
    for ctx in iter_route_contexts(client.app.routes):  # type: ignore[attr-defined]
        if not isinstance(ctx.original_route, APIRoute) or ctx.body_field is None:
            continue
        if ctx.path == "/api/v1/auth/token" or not (ctx.path or "").startswith("/api/"):
            continue  # forms: log-in in users/test_auth.py, the pages in tests/app/web
        model = ctx.body_field.field_info.annotation
        # An optional body (Return | None) is its model.
        model = next((a for a in typing.get_args(model) if a is not type(None)), model)
        fields = set(getattr(model, "model_fields", {}))
        permissions = [
            inspect.getclosurevars(d.call).nonlocals["permission"]
            for d in ctx.dependant.dependencies
            if getattr(d.call, "__name__", "").startswith("require_")
        ]
        assert len(permissions) == 1, ctx.path
        role = sorted(r.value for r in PERMISSIONS[permissions[0]])[0]
        for method in ctx.methods:
            found.append((method, ctx.path, fields, role))
    return found


def test_every_body_route_refuses_unknown_fields(
    client: TestClient, world: World, engine: Engine
) -> None:
    """Generated from the route table: each extra field alone, next to whatever the body
    lacks, is named as not allowed."""
    transfer_id = _dispatched(client, world)
    campaign = client.post(
        "/api/v1/inventory/campaigns",
        json={"name": "x", "scope": "ARCH", "starts_on": "2026-12-01", "ends_on": "2026-12-02"},
        headers=world.auth("clerk"),
    )
    assert campaign.status_code == 201, campaign.text
    values = {"label": world.labels[0], "transfer_id": str(transfer_id), "name": "desk-2",
              "request_id": "1", "job_id": "1", "campaign_id": str(campaign.json()["id"])}
    routes = _body_routes(client)
    assert len(routes) >= 19
    for method, path, fields, role in routes:
        url = path
        for key, value in values.items():
            url = url.replace("{" + key + "}", value)
        assert "{" not in url, f"add a path value for {path}"
        for field, value in EXTRAS.items():
            if field in fields:
                continue
            with unchanged(engine):
                r = client.request(method, url, json={field: value}, headers=world.auth(role))
                detail = assert_error(r, 422, "invalid_input")
            assert f"{field}: this field is not allowed" in detail, (path, detail)


def test_unknown_fields_are_422_and_change_nothing(
    client: TestClient, world: World, engine: Engine
) -> None:
    transfer_id = _dispatched(client, world)
    for (method, path), (role, body) in valid_bodies(world, transfer_id).items():
        for field, value in EXTRAS.items():
            if field in body:
                continue
            with unchanged(engine):
                r = client.request(
                    method, path, json={**body, field: value}, headers=world.auth(role)
                )
                detail = assert_error(r, 422, "invalid_input")
            assert f"{field}: this field is not allowed" in detail, (path, detail)


def test_unknown_fields_inside_lists_are_422(
    client: TestClient, world: World, engine: Engine
) -> None:
    label = world.labels[0]
    study = {**study_in(60).model_dump(mode="json"), "patient_name": "DOE^JOHN"}
    with unchanged(engine):
        r = client.post(
            f"/api/v1/carriers/{label}/studies",
            json={"studies": [study]},
            headers=world.auth("clerk"),
        )
        detail = assert_error(r, 422)
    assert "patient_name: this field is not allowed" in detail
    assert "DOE" not in r.text  # the submitted value is never echoed
    with unchanged(engine):
        read = {**scan_read(1, tag_uid(1)), "station_id": 2}
        r = client.post("/api/v1/scans", json={"reads": [read]}, headers=world.auth("station"))
        assert_error(r, 422)


def test_valid_bodies_are_accepted(client: TestClient, world: World, engine: Engine) -> None:
    """The control: without the extras, no body above is a 422 (so the 422s came from them)."""
    transfer_id = _dispatched(client, world)
    for (method, path), (role, body) in valid_bodies(world, transfer_id).items():
        r = client.request(method, path, json=body, headers=world.auth(role))
        assert r.status_code < 500, r.text
        # Later calls meet the state the earlier ones left (e.g. a carrier already lent).
        assert r.status_code != 422 or path.endswith(("/found", "/verify")), (path, r.text)


# --- tag UIDs ------------------------------------------------------------------------------

BAD_UIDS = [
    ("ZZ:ZZ:ZZ:ZZ", "iso14443a"),  # not hexadecimal
    ("04AABBCCDD", "iso14443a"),  # 5 bytes: no such UID
    ("04AABBC", "iso14443a"),  # odd number of digits
    ("04AABBCCDDEE80", "iso15693"),  # 7 bytes, but ISO 15693 UIDs are 8
    ("E0" * 33, "iso14443a"),  # far too long
    ("04 AA BB CC DD EE 80 ;", "iso14443a"),  # punctuation
    (" ", "iso14443a"),  # nothing but a separator
]


@pytest.mark.parametrize(("uid", "technology"), BAD_UIDS)
def test_bind_with_a_malformed_uid_is_422_and_writes_no_tag(
    uid: str, technology: str, client: TestClient, world: World, engine: Engine
) -> None:
    label = world.labels[0]
    with unchanged(engine):
        r = client.post(
            f"/api/v1/carriers/{label}/tag",
            json={"tag_uid": uid, "technology": technology},
            headers=world.auth("clerk"),
        )
        assert_error(r, 422, "invalid_input")


def test_bind_normalises_separators_and_case(client: TestClient, world: World) -> None:
    r = client.post(
        f"/api/v1/carriers/{world.labels[0]}/tag",
        json={"tag_uid": "04:aa:bb-cc dd.ee:80"},
        headers=world.auth("clerk"),
    )
    assert r.status_code == 200, r.text
    assert r.json()["tag"]["uid"] == "04AABBCCDDEE80"


def test_bind_of_a_tag_already_on_another_carrier_is_409_and_changes_nothing(
    client: TestClient, world: World, engine: Engine
) -> None:
    with unchanged(engine):
        r = client.post(
            f"/api/v1/carriers/{world.labels[0]}/tag",
            json={"tag_uid": tag_uid(2).lower()},
            headers=world.auth("clerk"),
        )
        detail = assert_error(r, 409, "conflict")
    assert world.labels[1] in detail
    # The sentence points at something real: that route takes the tag off, then it binds.
    assert f"DELETE /api/v1/carriers/{world.labels[1]}/tag" in detail
    r = client.delete(f"/api/v1/carriers/{world.labels[1]}/tag", headers=world.auth("clerk"))
    assert r.status_code == 200 and r.json()["tag"] is None
    again = client.delete(f"/api/v1/carriers/{world.labels[1]}/tag", headers=world.auth("clerk"))
    assert_error(again, 409, "conflict")
    r = client.post(
        f"/api/v1/carriers/{world.labels[0]}/tag",
        json={"tag_uid": tag_uid(2).lower()},
        headers=world.auth("clerk"),
    )
    assert r.status_code == 200 and r.json()["tag"]["uid"] == tag_uid(2)


def test_a_malformed_read_in_a_batch_is_rejected_alone(
    client: TestClient, world: World, engine: Engine
) -> None:
    reads = [
        scan_read(1, tag_uid(1)),
        scan_read(2, "04AABBCCDD"),  # 5 bytes
        scan_read(3, "not hex at all"),
        scan_read(4, "04:11:22:33:44:55:66"),  # well formed, on no carrier
    ]
    with engine.connect() as conn:
        seen_before = conn.execute(
            text("SELECT count(*) FROM custody_event WHERE action = 'seen'")
        ).scalar_one()
    r = client.post("/api/v1/scans", json={"reads": reads}, headers=world.auth("station"))
    assert r.status_code == 200, r.text
    outcomes = [x["outcome"] for x in r.json()["results"]]
    assert outcomes == ["seen", "rejected", "rejected", "unregistered_tag"]
    rejected = r.json()["results"][1]
    assert rejected["carrier"] is None and " " in rejected["message"]
    assert r.json()["results"][0]["carrier"]["label"] == world.labels[0]
    with engine.connect() as conn:
        seen_after = conn.execute(
            text("SELECT count(*) FROM custody_event WHERE action = 'seen'")
        ).scalar_one()
    assert seen_after == seen_before + 1


@pytest.mark.parametrize(
    "change",
    [
        {"read_at": "2026-01-01T10:00:00"},  # no time zone
        {"read_at": "yesterday"},
        {"station_seq": 0},
        {"event_id": "not-a-uuid"},
        {"technology": "bluetooth"},
        {"tag_uid": ""},
    ],
    ids=["naive-time", "words-time", "seq-0", "event-id", "technology", "empty-uid"],
)
def test_a_read_that_is_not_a_read_fails_the_batch(
    change: dict[str, Any], client: TestClient, world: World, engine: Engine
) -> None:
    reads = [scan_read(1, tag_uid(1)), scan_read(2, tag_uid(2), **change)]
    with unchanged(engine):
        r = client.post("/api/v1/scans", json={"reads": reads}, headers=world.auth("station"))
        assert_error(r, 422, "invalid_input")


def test_an_empty_or_oversized_batch_is_422(
    client: TestClient, world: World, engine: Engine
) -> None:
    with unchanged(engine):
        r = client.post("/api/v1/scans", json={"reads": []}, headers=world.auth("station"))
        assert_error(r, 422)
        reads = [scan_read(n, tag_uid(1)) for n in range(1, 502)]
        r = client.post("/api/v1/scans", json={"reads": reads}, headers=world.auth("station"))
        assert_error(r, 422)


# --- labels, location codes, dates ---------------------------------------------------------

BAD_LABELS = ["rad0000001", "A" * 17, "RAD-0001", "RAD.0001", "RAD%200001", "RÄD0001"]


@pytest.mark.parametrize("label", BAD_LABELS)
def test_bad_label_in_a_path_is_4xx_with_a_sentence(
    label: str, client: TestClient, world: World, engine: Engine
) -> None:
    with unchanged(engine):
        r = client.get(f"/api/v1/carriers/{label}", headers=world.auth("clerk"))
        assert r.status_code in (404, 422), r.text
        assert_error(r, r.status_code)
        r = client.post(
            f"/api/v1/carriers/{label}/checkout",
            json={"borrower_id": world.borrower_id, "purpose": "TREAT"},
            headers=world.auth("clerk"),
        )
        assert r.status_code in (404, 422), r.text
        assert_error(r, r.status_code)


@pytest.mark.parametrize("label", BAD_LABELS)
def test_bad_label_is_refused_at_registration(
    label: str, client: TestClient, world: World, engine: Engine
) -> None:
    with unchanged(engine):
        r = client.post(
            "/api/v1/carriers",
            json={"label": label, "kind": "DVD", "home_location": "SHELF1"},
            headers=world.auth("clerk"),
        )
        detail = assert_error(r, 422, "invalid_input")
    assert detail.startswith("label:")


def test_bad_labels_in_a_dispatch_or_query_are_refused(
    client: TestClient, world: World, engine: Engine
) -> None:
    with unchanged(engine):
        r = client.post(
            "/api/v1/transfers",
            json={"labels": [world.labels[0], "bad label"], "to_location": "VAULT"},
            headers=world.auth("clerk"),
        )
        assert_error(r, 422)
        r = client.get("/api/v1/audit/events?carrier=rad1", headers=world.auth("auditor"))
        assert_error(r, 422)


@pytest.mark.parametrize("code", ["shelf1", "SHELF 1", "SHELF/1", "S" * 33, ""])
def test_bad_location_codes_are_422(
    code: str, client: TestClient, world: World, engine: Engine
) -> None:
    label = world.labels[0]
    with unchanged(engine):
        for path, body, role in [
            ("/api/v1/carriers", {"label": "NEW1", "kind": "CD", "home_location": code}, "clerk"),
            (f"/api/v1/carriers/{label}/store", {"location": code}, "clerk"),
            ("/api/v1/transfers", {"labels": [label], "to_location": code}, "clerk"),
            ("/api/v1/locations", {"code": code, "name": "X", "kind": "shelf"}, "admin"),
            (
                "/api/v1/locations",
                {"code": "OK1", "name": "X", "kind": "shelf", "parent": code},
                "admin",
            ),
            ("/api/v1/stations", {"name": "desk-9", "location": code}, "admin"),
        ]:
            r = client.post(path, json=body, headers=world.auth(role))
            assert_error(r, 422, "invalid_input")
        r = client.get(f"/api/v1/carriers?location={code or '%20'}", headers=world.auth("clerk"))
        assert_error(r, 422)


def test_unknown_location_codes_are_404(client: TestClient, world: World, engine: Engine) -> None:
    label = world.labels[0]
    with unchanged(engine):
        for path, body, role in [
            ("/api/v1/carriers", {"label": "NEW1", "kind": "CD", "home_location": "NOPE"}, "clerk"),
            (f"/api/v1/carriers/{label}/store", {"location": "NOPE"}, "clerk"),
            ("/api/v1/transfers", {"labels": [label], "to_location": "NOPE"}, "clerk"),
            (
                "/api/v1/locations",
                {"code": "OK1", "name": "X", "kind": "shelf", "parent": "NOPE"},
                "admin",
            ),
            ("/api/v1/stations", {"name": "desk-9", "location": "NOPE"}, "admin"),
        ]:
            r = client.post(path, json=body, headers=world.auth(role))
            detail = assert_error(r, 404, "not_found")
            # Said, not echoed: what was typed may have been a patient ID.
            assert detail == "There is no location with that code.", (path, detail)


def test_a_location_tag_must_be_a_tag_uid(client: TestClient, world: World, engine: Engine) -> None:
    with unchanged(engine):
        r = client.post(
            "/api/v1/locations",
            json={"code": "SHELF9", "name": "Shelf 9", "kind": "shelf", "tag_uid": "nothex!"},
            headers=world.auth("admin"),
        )
        assert_error(r, 422, "invalid_input")


@pytest.mark.parametrize(
    "due_on",
    [
        "2026-13-45",
        "2027-02-30",
        "tomorrow",
        "03/12/2027",
        "2027-1-5",
        "",
        4102444800,  # seconds since 1970: 1 Jan 2100, but not a date as written
        "4102444800",
        "21000101",
    ],
)
def test_bad_due_dates_are_422(
    due_on: object, client: TestClient, world: World, engine: Engine
) -> None:
    with unchanged(engine):
        r = client.post(
            f"/api/v1/carriers/{world.labels[0]}/checkout",
            json={"borrower_id": world.borrower_id, "purpose": "TREAT", "due_on": due_on},
            headers=world.auth("clerk"),
        )
        detail = assert_error(r, 422, "invalid_input")
    assert detail.startswith("due_on:")


def test_past_dates_are_refused(client: TestClient, world: World, engine: Engine) -> None:
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    with unchanged(engine):
        r = client.post(
            f"/api/v1/carriers/{world.labels[0]}/checkout",
            json={"borrower_id": world.borrower_id, "purpose": "TREAT", "due_on": yesterday},
            headers=world.auth("clerk"),
        )
        assert_error(r, 422)
        r = client.post(
            "/api/v1/transfers",
            json={"labels": [world.labels[0]], "to_location": "VAULT", "expected_on": yesterday},
            headers=world.auth("clerk"),
        )
        assert_error(r, 422)


@pytest.mark.parametrize(
    "study_date",
    ["2019-02-30", "20191301", "last year", "20190101", "0", 0, 1546300800, "2019-01-01T00:00"],
)
def test_bad_study_dates_are_422(
    study_date: object, client: TestClient, world: World, engine: Engine
) -> None:
    study = {**study_in(70).model_dump(mode="json"), "study_date": study_date}
    with unchanged(engine):
        r = client.post(
            f"/api/v1/carriers/{world.labels[0]}/studies",
            json={"studies": [study]},
            headers=world.auth("clerk"),
        )
        assert_error(r, 422, "invalid_input")


def test_bad_study_uid_is_422(client: TestClient, world: World, engine: Engine) -> None:
    with unchanged(engine):
        for uid in ["1.2.03.4", "abc", "1..2", "1." + "2" * 70]:
            r = client.get(f"/api/v1/studies/{uid}", headers=world.auth("clerk"))
            assert_error(r, 422, "invalid_input")
            study = {**study_in(71).model_dump(mode="json"), "study_uid": uid}
            r = client.post(
                f"/api/v1/carriers/{world.labels[0]}/studies",
                json={"studies": [study]},
                headers=world.auth("clerk"),
            )
            assert_error(r, 422, "invalid_input")


# --- paging, sizes, JSON -------------------------------------------------------------------

LISTS = [
    ("/api/v1/carriers", "clerk"),
    ("/api/v1/locations", "clerk"),
    ("/api/v1/borrowers", "clerk"),
    ("/api/v1/users", "admin"),
    ("/api/v1/stations", "admin"),
    ("/api/v1/audit/events", "auditor"),
]


@pytest.mark.parametrize(("path", "role"), LISTS)
def test_paging_limits(
    path: str, role: str, client: TestClient, world: World, engine: Engine
) -> None:
    start = "after" if path.endswith("/events") else "offset"
    for query in ["limit=501", "limit=0", "limit=-1", "limit=many", f"{start}=-1"]:
        with unchanged(engine):
            r = client.get(f"{path}?{query}", headers=world.auth(role))
            assert_error(r, 422, "invalid_input")
    assert client.get(f"{path}?limit=500", headers=world.auth(role)).status_code == 200


def test_oversized_body_with_content_length_is_413(
    client: TestClient, world: World, engine: Engine, settings: Settings
) -> None:
    notes = "x" * (settings.MAX_BODY_BYTES + 1)
    with unchanged(engine):
        r = client.post(
            "/api/v1/carriers",
            json={"label": "BIG1", "kind": "CD", "home_location": "SHELF1", "notes": notes},
            headers=world.auth("clerk"),
        )
        detail = assert_error(r, 413, "payload_too_large")
    assert "KiB" in detail


def test_oversized_body_streamed_without_length_is_413(
    client: TestClient, world: World, engine: Engine, settings: Settings
) -> None:
    chunk = b" " * 8192
    chunks = settings.MAX_BODY_BYTES // len(chunk) + 2

    def body() -> Iterator[bytes]:
        yield b'{"label": "BIG1", "kind": "CD", "home_location": "SHELF1"'
        for _ in range(chunks):
            yield chunk
        yield b"}"

    with unchanged(engine):
        r = client.post(
            "/api/v1/carriers",
            content=body(),
            headers={**world.auth("clerk"), "Content-Type": "application/json"},
        )
        assert "content-length" not in {k.lower() for k in r.request.headers}
        assert_error(r, 413, "payload_too_large")


def test_a_body_just_under_the_limit_is_read(
    client: TestClient, world: World, settings: Settings
) -> None:
    padding = " " * (settings.MAX_BODY_BYTES - 200)
    content = '{"label": "BIG1", "kind": "CD", "home_location": "SHELF1"' + padding + "}"
    r = client.post(
        "/api/v1/carriers",
        content=content.encode(),
        headers={**world.auth("clerk"), "Content-Type": "application/json"},
    )
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    "content",
    [
        b'{"label": "NEW1", "kind": "CD",',  # cut short
        b"{'label': 'NEW1'}",  # not JSON quotes
        b"[1, 2, 3]",  # JSON, but not an object
        b"null",
        b"",
        b"\xff\xfe\x00garbage",
        b'{"label": "NEW1", "label": "NEW2", "kind": NaN}',
    ],
    ids=["truncated", "quotes", "array", "null", "empty", "binary", "nan"],
)
def test_malformed_json_is_4xx_never_500(
    content: bytes, client: TestClient, world: World, engine: Engine
) -> None:
    with unchanged(engine):
        r = client.post(
            "/api/v1/carriers",
            content=content,
            headers={**world.auth("clerk"), "Content-Type": "application/json"},
        )
        assert_error(r, 422)


def test_json_nested_too_deep_is_422(client: TestClient, world: World, engine: Engine) -> None:
    """Well-formed but 50 000 levels deep: the parser gives up; bad input (422), not a 500."""
    with unchanged(engine):
        r = client.post(
            "/api/v1/carriers",
            content=b"[" * 50_000 + b"]" * 50_000,
            headers={**world.auth("clerk"), "Content-Type": "application/json"},
        )
        assert_error(r, 422, "invalid_input")


def test_wrong_content_type_is_422(client: TestClient, world: World, engine: Engine) -> None:
    with unchanged(engine):
        r = client.post(
            "/api/v1/carriers",
            content=b'{"label": "NEW1", "kind": "CD", "home_location": "SHELF1"}',
            headers={**world.auth("clerk"), "Content-Type": "text/plain"},
        )
        assert_error(r, 422)


def test_unknown_route_and_method_answer_in_the_same_shape(
    client: TestClient, world: World
) -> None:
    assert_error(client.get("/api/v1/nothing-here", headers=world.auth("clerk")), 404)
    r = client.delete(f"/api/v1/carriers/{world.labels[0]}", headers=world.auth("admin"))
    assert_error(r, 405, "method_not_allowed")


# --- nothing half-written ------------------------------------------------------------------


def test_failed_multi_carrier_dispatch_changes_no_carrier(
    client: TestClient, world: World, engine: Engine
) -> None:
    r = client.post(
        f"/api/v1/carriers/{world.labels[2]}/checkout",
        json={"borrower_id": world.borrower_id, "purpose": "TREAT"},
        headers=world.auth("clerk"),
    )
    assert r.status_code == 200
    for labels, status in [
        ([world.labels[0], world.labels[1], world.labels[2]], 409),  # the last one is lent
        ([world.labels[0], "NOSUCH0001"], 404),
        ([world.labels[0], world.labels[0]], 422),
    ]:
        with unchanged(engine):
            r = client.post(
                "/api/v1/transfers",
                json={"labels": labels, "to_location": "VAULT"},
                headers=world.auth("clerk"),
            )
            assert_error(r, status)


def test_a_409_leaves_the_log_as_it_was(client: TestClient, world: World, engine: Engine) -> None:
    label = world.labels[0]
    body = {"borrower_id": world.borrower_id, "purpose": "TREAT"}
    assert (
        client.post(
            f"/api/v1/carriers/{label}/checkout", json=body, headers=world.auth("clerk")
        ).status_code
        == 200
    )
    with unchanged(engine):
        r = client.post(
            f"/api/v1/carriers/{label}/checkout", json=body, headers=world.auth("clerk")
        )
        assert_error(r, 409, "conflict")
        r = client.post(
            f"/api/v1/carriers/{label}/store",
            json={"location": "SHELF2"},
            headers=world.auth("clerk"),
        )
        assert_error(r, 409, "conflict")
        r = client.post(
            "/api/v1/carriers",
            json={"label": label, "kind": "DVD", "home_location": "SHELF1"},
            headers=world.auth("clerk"),
        )
        assert_error(r, 409, "conflict")


def test_failed_receive_of_a_partly_wrong_list_receives_nothing(
    client: TestClient, world: World, engine: Engine
) -> None:
    transfer_id = _dispatched(client, world)
    with unchanged(engine):
        r = client.post(
            f"/api/v1/transfers/{transfer_id}/receive",
            json={"labels": [world.labels[2], world.labels[0]]},  # the second is not in it
            headers=world.auth("clerk"),
        )
        assert_error(r, 409)
    assert_error(
        client.post("/api/v1/transfers/99999/receive", json={}, headers=world.auth("clerk")), 404
    )
    assert_error(
        client.post("/api/v1/transfers/abc/receive", json={}, headers=world.auth("clerk")), 422
    )


def test_a_study_batch_with_one_bad_study_stores_none(
    client: TestClient, world: World, engine: Engine
) -> None:
    good = study_in(80).model_dump(mode="json")
    bad = {**study_in(81).model_dump(mode="json"), "modalities": ["C-T"]}
    with unchanged(engine):
        r = client.post(
            f"/api/v1/carriers/{world.labels[0]}/studies",
            json={"studies": [good, bad]},
            headers=world.auth("clerk"),
        )
        assert_error(r, 422, "invalid_input")


def test_unknown_borrower_or_purpose_lends_nothing(
    client: TestClient, world: World, engine: Engine
) -> None:
    label = world.labels[0]
    with unchanged(engine):
        r = client.post(
            f"/api/v1/carriers/{label}/checkout",
            json={"borrower_id": 99999, "purpose": "TREAT"},
            headers=world.auth("clerk"),
        )
        assert r.status_code in (404, 422), r.text
        assert_error(r, r.status_code)
        r = client.post(
            f"/api/v1/carriers/{label}/checkout",
            json={"borrower_id": world.borrower_id, "purpose": "treat"},
            headers=world.auth("clerk"),
        )
        assert_error(r, 422)


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"role": "station"}, 422),  # a role, but not one a person can have
        ({"role": "system"}, 422),
        ({"role": "root"}, 422),
        ({"password": "short"}, 422),
        ({"username": "Has Spaces"}, 422),
        ({"username": "clerk"}, 409),  # taken
    ],
)
def test_bad_new_users_are_refused(
    change: dict[str, str], status: int, client: TestClient, world: World, engine: Engine
) -> None:
    body = {
        "username": "newperson",
        "display_name": "New Person",
        "role": "clerk",
        "password": "a long enough password",
        **change,
    }
    with unchanged(engine):
        r = client.post("/api/v1/users", json=body, headers=world.auth("admin"))
        assert_error(r, status)
    assert "a long enough password" not in r.text


# --- values the databases cannot hold ------------------------------------------------------

NUL = "\x00"


def test_nul_characters_in_bodies_are_422(client: TestClient, world: World, engine: Engine) -> None:
    """PostgreSQL text cannot hold NUL: it must be refused as bad input, never a 500."""
    label = world.labels[0]
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("/api/v1/borrowers", "clerk", {"name": f"Dr{NUL}Wang"}),
        (
            "/api/v1/carriers",
            "clerk",
            {"label": "NEW1", "kind": "CD", "home_location": "SHELF1", "notes": f"a{NUL}b"},
        ),
        (f"/api/v1/carriers/{label}/hold", "admin", {"reason": f"court{NUL}order"}),
        (f"/api/v1/carriers/{label}/missing", "clerk", {"note": NUL}),
        ("/api/v1/transfers", "clerk", {"labels": [label, f"X{NUL}"], "to_location": "VAULT"}),
        (
            f"/api/v1/carriers/{label}/studies",
            "clerk",
            {"studies": [{**study_in(90).model_dump(mode="json"), "patient_id": f"P{NUL}1"}]},
        ),
        (
            "/api/v1/users",
            "admin",
            {
                "username": "newperson",
                "display_name": f"A{NUL}B",
                "role": "clerk",
                "password": "a long enough password",
            },
        ),
        ("/api/v1/scans", "station", {"reads": [scan_read(1, tag_uid(1) + NUL)]}),
    ]
    for path, role, body in cases:
        with unchanged(engine):
            r = client.post(path, json=body, headers=world.auth(role))
            detail = assert_error(r, 422, "invalid_input")
        assert "NUL" in detail, (path, detail)


@pytest.mark.parametrize(
    ("path", "role"),
    [
        ("/api/v1/where?q=AB%00CD", "clerk"),
        ("/api/v1/locations/SH%00ELF", "clerk"),
        ("/api/v1/carriers/RAD%000001", "clerk"),
        ("/api/v1/users/cl%00erk/deactivate", "admin"),
        ("/api/v1/stations/desk%00-2/revoke", "admin"),
        ("/api/v1/stations/desk%00-2/rotate-key", "admin"),
    ],
)
def test_nul_characters_in_the_address_are_422(
    path: str, role: str, client: TestClient, world: World, engine: Engine
) -> None:
    method = "POST" if path.endswith(("/deactivate", "/revoke", "/rotate-key")) else "GET"
    with unchanged(engine):
        r = client.request(method, path, headers=world.auth(role))
        assert_error(r, 422, "invalid_input")


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("desk-2/rotate-key?grace_minutes=-1", 422),
        ("desk-2/rotate-key?grace_minutes=10081", 422),  # more than a week
        ("desk-2/rotate-key?grace_minutes=soon", 422),
        ("desk-2/rotate-key?grace_minutes=1e3", 422),
        ("desk-9/rotate-key?grace_minutes=60", 404),
    ],
)
def test_a_key_rotation_with_a_bad_grace_or_station_changes_nothing(
    path: str, status: int, client: TestClient, world: World, engine: Engine
) -> None:
    with unchanged(engine):
        r = client.post(f"/api/v1/stations/{path}", headers=world.auth("admin"))
        assert_error(r, status, "invalid_input" if status == 422 else "not_found")


def test_nul_in_a_login_name_is_a_failed_login(client: TestClient, world: World) -> None:
    r = client.post("/api/v1/auth/token", data={"username": f"cl{NUL}erk", "password": "x"})
    assert_error(r, 401, "unauthorized")


@pytest.mark.parametrize("number", [2**31, 2**63, 10**30])
def test_numbers_too_large_for_the_database_are_422(
    number: int, client: TestClient, world: World, engine: Engine
) -> None:
    label = world.labels[0]
    with unchanged(engine):
        r = client.post(
            f"/api/v1/carriers/{label}/checkout",
            json={"borrower_id": number, "purpose": "TREAT"},
            headers=world.auth("clerk"),
        )
        assert_error(r, 422, "invalid_input")
        r = client.get(f"/api/v1/transfers/{number}", headers=world.auth("clerk"))
        assert_error(r, 422, "invalid_input")
        r = client.post(f"/api/v1/transfers/{number}/receive", json={}, headers=world.auth("clerk"))
        assert_error(r, 422, "invalid_input")
        study = {**study_in(91).model_dump(mode="json"), "instance_count": number}
        r = client.post(
            f"/api/v1/carriers/{label}/studies",
            json={"studies": [study]},
            headers=world.auth("clerk"),
        )
        assert_error(r, 422, "invalid_input")


def test_the_largest_id_is_simply_not_found(client: TestClient, world: World) -> None:
    r = client.get(f"/api/v1/transfers/{2**31 - 1}", headers=world.auth("clerk"))
    assert_error(r, 404, "not_found")
    r = client.post(
        f"/api/v1/carriers/{world.labels[0]}/checkout",
        json={"borrower_id": 2**31 - 1, "purpose": "TREAT"},
        headers=world.auth("clerk"),
    )
    assert r.status_code in (404, 422), r.text
    assert_error(r, r.status_code)


# Log positions and station sequences are INTEGER columns on both databases.


@pytest.mark.parametrize("number", [2**31, 2**40])
def test_a_large_log_position_is_not_500(
    number: int, client: TestClient, world: World, engine: Engine
) -> None:
    r = client.get(f"/api/v1/audit/events?after={number}", headers=world.auth("auditor"))
    assert_error(r, 422, "invalid_input")


@pytest.mark.parametrize("number", [2**31, 2**40])
def test_a_large_station_sequence_is_not_500(
    number: int, client: TestClient, world: World, engine: Engine
) -> None:
    r = client.post(
        "/api/v1/scans",
        json={"reads": [scan_read(number, tag_uid(1))]},
        headers=world.auth("station"),
    )
    assert_error(r, 422, "invalid_input")


# --- a seeded fuzz: whatever arrives, a 4xx in the agreed shape or a success ---------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELD_VALUES = st.one_of(JSON, st.text(max_size=80), st.integers(), st.dates().map(str))


def _fuzz_bodies(world: World) -> dict[str, tuple[str, list[str]]]:
    label = world.labels[0]
    return {
        "/api/v1/carriers": ("clerk", ["label", "kind", "home_location", "set_number", "notes"]),
        f"/api/v1/carriers/{label}/tag": ("clerk", ["tag_uid", "technology", "tag_type"]),
        f"/api/v1/carriers/{label}/checkout": ("clerk", ["borrower_id", "purpose", "due_on"]),
        "/api/v1/transfers": ("clerk", ["labels", "to_location", "seal_number", "expected_on"]),
        "/api/v1/locations": ("admin", ["code", "name", "kind", "parent", "tag_uid"]),
        "/api/v1/scans": ("station", ["reads"]),
        f"/api/v1/carriers/{label}/studies": ("clerk", ["studies"]),
    }


@settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_fuzzed_bodies_never_500(data: st.DataObject, client: TestClient, world: World) -> None:
    bodies = _fuzz_bodies(world)
    path = data.draw(st.sampled_from(sorted(bodies)))
    role, fields = bodies[path]
    body = data.draw(
        st.one_of(
            JSON,
            st.fixed_dictionaries({}, optional=dict.fromkeys(fields, FIELD_VALUES)),
        )
    )
    r = client.post(path, json=body, headers=world.auth(role))
    assert r.status_code < 500, (path, body, r.text)
    if r.status_code >= 400:
        assert set(r.json()) == {"error", "detail"}, r.text
        assert isinstance(r.json()["detail"], str)


@settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=st.text(min_size=1, max_size=70))
def test_fuzzed_queries_and_path_values_never_500(
    text: str, client: TestClient, world: World
) -> None:
    quoted = urllib.parse.quote(text, safe="")
    for method, url, role in [
        ("GET", f"/api/v1/where?q={urllib.parse.quote(text)}", "clerk"),
        ("GET", f"/api/v1/carriers/{quoted}", "clerk"),
        ("GET", f"/api/v1/locations/{quoted}", "clerk"),
        ("GET", f"/api/v1/studies/{quoted}", "clerk"),
        ("GET", f"/api/v1/transfers/{quoted}", "clerk"),
        ("GET", f"/api/v1/carriers?location={urllib.parse.quote(text)}", "clerk"),
        ("POST", f"/api/v1/users/{quoted}/deactivate", "admin"),
    ]:
        r = client.request(method, url, headers=world.auth(role))
        assert r.status_code < 500, (url, r.text)
        if r.status_code >= 400:
            assert set(r.json()) == {"error", "detail"}, r.text


def test_disc_readings_may_be_larger_than_other_bodies(client: TestClient, world: World) -> None:
    """Intake and verify take a whole disc's reading (MAX_READING_BYTES); other routes keep
    the general limit."""
    big = b'{"x": "' + b"a" * (300 * 1024) + b'"}'
    headers = {**world.auth("clerk"), "content-type": "application/json"}
    elsewhere = client.post(
        f"/api/v1/carriers/{world.labels[0]}/store", content=big, headers=headers
    )
    assert elsewhere.status_code == 413
    intake = client.post(f"/api/v1/carriers/{world.labels[0]}/intake", content=big, headers=headers)
    assert intake.status_code == 422  # read and validated, not refused for its size


def test_a_body_that_is_not_json_gets_a_sentence(client: TestClient, world: World) -> None:
    r = client.post(
        "/api/v1/carriers",
        content=b'{"label": "RAD1", "kind": ',
        headers={**world.auth("clerk"), "Content-Type": "application/json"},
    )
    assert r.status_code == 422
    assert r.json()["detail"].startswith("the request body is not valid JSON (near character")


def test_a_bad_role_names_only_the_staff_roles(client: TestClient, world: World) -> None:
    body = {"username": "newbie", "display_name": "N", "role": "system", "password": "x" * 12}
    r = client.post("/api/v1/users", json=body, headers=world.auth("admin"))
    detail = assert_error(r, 422, "invalid_input")
    assert "clerk" in detail and "station" not in detail and "system" not in detail.split(":")[1]


@pytest.mark.parametrize("value", ["1", True])
def test_a_number_is_sent_as_a_number(client: TestClient, world: World, value: object) -> None:
    """Pydantic alone takes "1" (and true) for 1; the document says integer, so it is refused."""
    body = {"borrower_id": value, "purpose": "TREAT"}
    r = client.post(
        f"/api/v1/carriers/{world.labels[0]}/checkout", json=body, headers=world.auth("clerk")
    )
    assert "borrower_id" in assert_error(r, 422, "invalid_input")


@pytest.mark.parametrize(
    "modalities", [["CT", "MR", "US", "CR", "DX", "MG", "PT", "NM"], ["ABCDEFGHI"]]
)
def test_a_studys_modalities_fit_their_column(
    client: TestClient, world: World, engine: Engine, modalities: list[str]
) -> None:
    """Joined by "\\" they are kept in 64 characters: more was a 500 on PostgreSQL."""
    body = {"studies": [{"study_uid": "1.2.3.4", "modalities": modalities}]}
    with unchanged(engine):
        r = client.post(
            f"/api/v1/carriers/{world.labels[0]}/studies", json=body, headers=world.auth("clerk")
        )
        assert "modalities" in assert_error(r, 422, "invalid_input")
