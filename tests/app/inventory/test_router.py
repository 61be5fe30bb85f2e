"""Inventory through the API, on SQLite and PostgreSQL: campaigns, reads placed on shelves,
the classes they get, corrections, and a close that reports missing only what was swept."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import select

from app.audit.models import CustodyEvent
from app.carriers.models import Carrier
from app.core.db import session_scope
from app.locations.models import Location
from tests.factories import World, make_carrier, site_today, tag_uid

# Recent: a session that read in the last half hour is still sweeping its shelf.
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
UNKNOWN_UID = "04DEADBEEF0001"


def _campaign(client: TestClient, world: World, scope: str = "ARCH") -> int:
    today = date.today()
    answer = client.post(
        "/api/v1/inventory/campaigns",
        json={
            "name": "Year-end",
            "scope": scope,
            "starts_on": today.isoformat(),
            "ends_on": (today + timedelta(days=7)).isoformat(),
        },
        headers=world.auth("clerk"),
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


class Sweep:
    """One device's session: reads with increasing read times."""

    def __init__(
        self, client: TestClient, world: World, campaign: int, role: str = "clerk"
    ) -> None:
        self.client, self.world, self.campaign, self.role = client, world, campaign, role
        self.session = str(uuid.uuid4())
        self.minute = 0

    def read(self, at: int | None = None, **subject: Any) -> dict[str, Any]:
        self.minute += 1
        minute = self.minute if at is None else at
        return {
            "event_id": str(uuid.uuid4()),
            "session": self.session,
            "read_at": (T0 + timedelta(minutes=minute)).isoformat(),
            **subject,
        }

    def post(self, *reads: dict[str, Any], status: int = 200) -> dict[str, Any]:
        answer = self.client.post(
            f"/api/v1/inventory/campaigns/{self.campaign}/reads",
            json={"reads": list(reads)},
            headers=self.world.auth(self.role),
        )
        assert answer.status_code == status, answer.text
        return dict(answer.json())

    def classes(self, *reads: dict[str, Any]) -> list[str]:
        return [r["class"] for r in self.post(*reads)["results"]]


def _report(client: TestClient, world: World, campaign: int) -> dict[str, Any]:
    answer = client.get(
        f"/api/v1/inventory/campaigns/{campaign}/report", headers=world.auth("auditor")
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _classes(report: dict[str, Any]) -> dict[str, str]:
    return {i["label"]: i["class"] for s in report["shelves"] for i in s["items"]}


def _move(engine: Engine, label: str, place: str) -> None:
    from app.core.principal import SYSTEM
    from app.custody import schemas, service

    with session_scope(engine) as session:
        service.store(
            session=session, principal=SYSTEM, label=label, store_in=schemas.Store(location=place),
            today=site_today(),
        )


def test_reads_are_classed_on_the_shelf_set_before_them(
    client: TestClient, world: World, engine: Engine
) -> None:
    _move(engine, world.labels[2], "SHELF2")
    campaign = _campaign(client, world)
    sweep = Sweep(client, world, campaign)
    reads = [
        sweep.read(tag_uid=tag_uid(2)),  # before any shelf: not placed
        sweep.read(location="SHELF1"),
        sweep.read(tag_uid=tag_uid(1)),
        sweep.read(label=world.labels[1]),
        sweep.read(tag_uid=tag_uid(3)),  # it is stored on SHELF2
        sweep.read(tag_uid=UNKNOWN_UID),
        sweep.read(tag_uid=tag_uid(1)),  # the same tag again in this session
        sweep.read(location="VAULT"),  # outside the scope
        sweep.read(label="NOSUCHLABEL"),
    ]
    answer = sweep.post(*reads)
    results = answer["results"]
    assert [r["class"] for r in results] == [
        "no_shelf",
        "shelf",
        "found",
        "found",
        "misplaced",
        "unknown",
        "found",
        "out_of_scope",
        "rejected",
    ]
    assert [r["duplicate"] for r in results][2:7] == [False, False, False, False, True]
    assert results[4]["message"] == (
        f"{world.labels[2]} belongs on City Hospital / Archive / Shelf 2: "
        "put it back, or make this its home."
    )
    assert "NOSUCHLABEL" not in results[8]["message"]
    assert answer["counts"]["found"] == 3
    assert answer["shelf"] == {
        "code": "SHELF1",
        "path": "City Hospital / Archive / Shelf 1",
        "expected": 2,
        "seen": 2,
    }
    # Delivered again (an outbox retrying): the same answer, flagged, nothing stored twice.
    again = sweep.post(reads[2])
    assert again["results"][0] | {"replayed": False} == results[2]
    assert again["results"][0]["replayed"] is True
    report = _report(client, world, campaign)
    assert _classes(report) == {
        world.labels[0]: "found",
        world.labels[1]: "found",
        world.labels[2]: "misplaced",
    }
    assert report["campaign"]["counts"] == {
        "found": 2,
        "misplaced": 1,
        "unexpected": 0,
        "unknown": 1,
        "not_seen": 0,
    }
    assert [t["tag_uid"] for t in report["unknown"]] == [UNKNOWN_UID]
    states = {s["code"]: s["state"] for s in report["shelves"]}
    assert states == {"SHELF1": "in_progress", "SHELF2": "not_swept"}


def test_a_late_shelf_read_places_the_reads_after_it(client: TestClient, world: World) -> None:
    """An offline device's backlog synced out of order lands where it was read."""
    campaign = _campaign(client, world)
    sweep = Sweep(client, world, campaign)
    assert sweep.classes(sweep.read(at=10, tag_uid=tag_uid(1))) == ["no_shelf"]
    assert sweep.classes(sweep.read(at=5, location="SHELF1")) == ["shelf"]
    assert _classes(_report(client, world, campaign))[world.labels[0]] == "found"
    # A second shelf read between them moves it again: SHELF2 at minute 8.
    sweep.post(sweep.read(at=8, location="SHELF2"))
    assert _classes(_report(client, world, campaign))[world.labels[0]] == "misplaced"


def test_the_latest_read_in_time_wins_across_sessions(client: TestClient, world: World) -> None:
    campaign = _campaign(client, world)
    phone, laptop = Sweep(client, world, campaign), Sweep(client, world, campaign, role="station")
    laptop.post(laptop.read(at=20, location="SHELF2"), laptop.read(at=21, tag_uid=tag_uid(1)))
    # The phone read it earlier on its own shelf, and syncs later: the later read still wins.
    phone.post(phone.read(at=1, location="SHELF1"), phone.read(at=2, tag_uid=tag_uid(1)))
    assert _classes(_report(client, world, campaign))[world.labels[0]] == "misplaced"


def test_a_close_reports_missing_only_what_was_swept_and_not_seen(
    client: TestClient, world: World, engine: Engine
) -> None:
    make_carrier(engine, "RAD0000010", uid=tag_uid(10))
    _move(engine, world.labels[2], "SHELF2")  # SHELF2 is never swept
    campaign = _campaign(client, world)
    sweep = Sweep(client, world, campaign)
    sweep.post(
        sweep.read(location="SHELF1"),
        sweep.read(tag_uid=tag_uid(1)),
        sweep.read(tag_uid=tag_uid(10)),
    )
    report = _report(client, world, campaign)
    assert _classes(report)[world.labels[1]] == "not_seen"
    assert world.labels[2] not in _classes(report)
    answer = client.post(
        f"/api/v1/inventory/campaigns/{campaign}/close",
        json={"report_missing": True},
        headers=world.auth("clerk"),
    )
    assert answer.status_code == 200, answer.text
    summary = answer.json()
    assert summary["reported_missing"] == [world.labels[1]]
    assert summary["campaign"]["counts"]["not_seen"] == 1
    with session_scope(engine) as session:
        status = dict(session.exec(select(Carrier.label, Carrier.status)).all())
        events = list(session.exec(select(CustodyEvent).order_by(CustodyEvent.seq.desc()).limit(2)))  # type: ignore[attr-defined]
    assert status[world.labels[1]] == "missing"
    assert status[world.labels[2]] == "in_storage"  # its shelf was not swept
    assert [e.action for e in events] == ["inventory_closed", "inventory_result"]
    assert json.loads(events[1].payload) == {
        "label": world.labels[1],
        "campaign_id": campaign,
        "class": "not_seen",
        "was": "in_storage",
        "now": "missing",
    }
    assert json.loads(events[0].payload)["reported_missing"] == 1
    # Closed: no more reads, no second close.
    assert sweep.post(sweep.read(tag_uid=tag_uid(1)), status=409)["error"] == "conflict"
    again = client.post(
        f"/api/v1/inventory/campaigns/{campaign}/close", json={}, headers=world.auth("clerk")
    )
    assert again.status_code == 409
    assert _classes(_report(client, world, campaign))[world.labels[1]] == "not_seen"


def test_a_close_without_report_missing_changes_no_carrier(
    client: TestClient, world: World, engine: Engine
) -> None:
    campaign = _campaign(client, world)
    sweep = Sweep(client, world, campaign)
    sweep.post(sweep.read(location="SHELF1"))
    answer = client.post(
        f"/api/v1/inventory/campaigns/{campaign}/close", json={}, headers=world.auth("clerk")
    )
    assert answer.json()["changed"] == 0
    assert answer.json()["campaign"]["counts"]["not_seen"] == 3
    with session_scope(engine) as session:
        assert set(session.exec(select(Carrier.status)).all()) == {"in_storage"}


@pytest.mark.parametrize(
    ("setup", "action", "status_after"),
    [
        ("checkout", "return", "in_storage"),
        ("missing", "found", "in_storage"),
        ("misplaced", "new_home", "in_storage"),
        ("misplaced", "put_back", "in_storage"),
        ("dispatch", "receive", "in_storage"),
    ],
)
def test_findings_are_settled_with_logged_custody_events(
    client: TestClient, world: World, engine: Engine, setup: str, action: str, status_after: str
) -> None:
    label = world.labels[0]
    clerk = world.auth("clerk")
    if setup == "checkout":
        client.post(
            f"/api/v1/carriers/{label}/checkout",
            json={"borrower_id": world.borrower_id, "purpose": "TREAT"},
            headers=clerk,
        ).raise_for_status()
    elif setup == "missing":
        client.post(f"/api/v1/carriers/{label}/missing", json={}, headers=clerk).raise_for_status()
    elif setup == "dispatch":  # on its way to the vault, yet on the shelf
        client.post(
            "/api/v1/transfers", json={"labels": [label], "to_location": "VAULT"}, headers=clerk
        ).raise_for_status()
    campaign = _campaign(client, world)
    sweep = Sweep(client, world, campaign)
    shelf = "SHELF2" if setup == "misplaced" else "SHELF1"
    expected = "misplaced" if setup == "misplaced" else "unexpected"
    assert sweep.classes(sweep.read(location=shelf), sweep.read(tag_uid=tag_uid(1)))[1] == expected
    item = next(
        i
        for s in _report(client, world, campaign)["shelves"]
        for i in s["items"]
        if i["label"] == label
    )
    assert action in item["actions"]
    answer = client.post(
        f"/api/v1/inventory/campaigns/{campaign}/resolve",
        json={"label": label, "action": action},
        headers=clerk,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["resolution"] == action
    with session_scope(engine) as session:
        carrier = session.exec(select(Carrier).where(Carrier.label == label)).one()
        last = session.exec(select(CustodyEvent).order_by(CustodyEvent.seq.desc())).first()  # type: ignore[attr-defined]
        assert last is not None
    assert carrier.status == status_after
    assert json.loads(last.payload)["campaign_id"] == campaign
    assert json.loads(last.payload)["resolution"] == action
    # Home is SHELF1 for all of them: each ends there, but a new home ends on SHELF2 as home.
    assert carrier.current_location_id == last.location_id == carrier.home_location_id
    with session_scope(engine) as session:
        code = session.exec(select(Location.code).where(Location.id == last.location_id)).one()
    assert code == ("SHELF1" if action == "put_back" else shelf)
    # Settled once: asking again is refused with a sentence.
    again = client.post(
        f"/api/v1/inventory/campaigns/{campaign}/resolve",
        json={"label": label, "action": action},
        headers=clerk,
    )
    assert again.status_code == 409
    assert "cannot be settled" in again.json()["detail"]


def test_who_may_do_what(client: TestClient, world: World) -> None:
    campaign = _campaign(client, world)
    sweep = Sweep(client, world, campaign, role="clinician")
    sweep.post(sweep.read(location="SHELF1"), status=403)
    assert (
        client.post(
            "/api/v1/inventory/campaigns", json={}, headers=world.auth("station")
        ).status_code
        == 403
    )
    assert (
        client.get(
            f"/api/v1/inventory/campaigns/{campaign}/report", headers=world.auth("clinician")
        ).status_code
        == 403
    )
    station = Sweep(client, world, campaign, role="station")
    assert station.classes(station.read(location="SHELF1")) == ["shelf"]


@pytest.mark.parametrize(
    ("change", "sentence"),
    [
        ({"label": "RAD0000001"}, "exactly one of tag_uid, label or location"),
        ({"tag_uid": None, "label": None}, "exactly one of tag_uid, label or location"),
        ({"read_at": "2026-11-29T09:00:00"}, "zone"),
        ({"records": [{"type": "url", "data": "zz"}]}, "records"),
    ],
)
def test_bad_reads_get_a_sentence_and_store_nothing(
    client: TestClient, world: World, change: dict[str, Any], sentence: str
) -> None:
    campaign = _campaign(client, world)
    sweep = Sweep(client, world, campaign)
    read = sweep.read(tag_uid=tag_uid(1)) | change
    answer = sweep.post(read, status=422)
    assert sentence in answer["detail"]
    assert _report(client, world, campaign)["campaign"]["counts"]["found"] == 0


def test_unknown_campaign_and_scope(client: TestClient, world: World) -> None:
    answer = client.post(
        "/api/v1/inventory/campaigns/999/reads",
        json={"reads": [Sweep(client, world, 999).read(location="SHELF1")]},
        headers=world.auth("clerk"),
    )
    assert answer.status_code == 404
    assert answer.json()["detail"] == "There is no inventory campaign with that number."
    bad = client.post(
        "/api/v1/inventory/campaigns",
        json={"name": "x", "scope": "NOPE", "starts_on": "2026-12-01", "ends_on": "2026-11-01"},
        headers=world.auth("clerk"),
    )
    assert bad.status_code == 422
    assert bad.json()["detail"] == "A campaign ends on or after the day it starts."
