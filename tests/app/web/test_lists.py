"""The lists and the dashboard through the ASGI app on both databases: each list shows the
right carriers, in a fixed number of queries, and the dashboard's pictures say the database's
numbers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlmodel import select

from app.carriers import service as carrier_service
from app.core.config import Settings
from app.core.db import session_scope
from app.core.principal import SYSTEM
from app.core.time import utcnow
from app.custody import schemas as custody_schemas
from app.custody import service as custody_service
from app.custody.models import Transfer
from app.locations import service as location_service
from app.locations.schemas import LocationCreate, LocationKind
from app.media.models import MediaIntake
from app.pacs.models import PacsCheck
from app.studies.models import CarrierStudy
from tests.app.web.test_pages import _log_in
from tests.factories import World, make_carrier, site_today
from tests.support.statements import counting


@dataclass
class Archive:
    lent: str
    overdue: str
    moving: str
    missing: str
    held: str


def _lend(engine: Engine, settings: Settings, world: World, label: str, days: int) -> None:
    with session_scope(engine) as session:
        today = site_today(settings)  # the lists count days from the site's day
        custody_service.check_out(
            session=session, principal=SYSTEM, label=label, settings=settings, today=today,
            checkout_in=custody_schemas.CheckOut(
                borrower_id=world.borrower_id, purpose="TREAT",
                due_on=today + timedelta(days=days),
            ),
        )


@pytest.fixture
def archive(engine: Engine, settings: Settings, world: World) -> Archive:
    """One carrier in each state a list shows: a loan, an overdue loan (back-filled by the
    system, as the demo does), a late transfer, a missing carrier, and one under legal hold
    that the PACS lacks a study of and that is due for verification."""
    lent, overdue, moving = world.labels
    missing = make_carrier(engine, "RAD0000004", study=4)
    held = make_carrier(engine, "RAD0000005", study=5)
    _lend(engine, settings, world, lent, 5)
    _lend(engine, settings, world, overdue, -10)
    today = site_today(settings)
    with session_scope(engine) as session:
        transfer = custody_service.dispatch(
            session=session, principal=SYSTEM, today=today,
            dispatch_in=custody_schemas.Dispatch(labels=[moving], to_location="VAULT",
                                                 seal_number="SEAL-1", expected_on=today),
        )
        transfer_id = transfer.id
        custody_service.report_missing(session=session, principal=SYSTEM, label=missing,
                                       missing_in=custody_schemas.Missing(note="not on shelf"),
                                       today=today)
        custody_service.set_hold(session=session, principal=SYSTEM, label=held,
                                 reason="court order <7>", hold=True, today=today)
    with session_scope(engine) as session:
        # The courier is a day late (a dispatch cannot be given a past date).
        row = session.get(Transfer, transfer_id)
        assert row is not None
        row.expected_on = today - timedelta(days=1)
        carrier = carrier_service.get_by_label(session=session, label=held)
        link = session.exec(select(CarrierStudy).where(CarrierStudy.carrier_id == carrier.id)).one()
        session.add(PacsCheck(carrier_id=carrier.id or 0, study_id=link.study_id,
                              checked_at=utcnow(), pacs="test", status="absent",
                              carrier_instances=105, warnings="[]"))
        session.add(MediaIntake(carrier_id=carrier.id or 0, read_at=utcnow(), file_count=1,
                                instance_count=1, byte_count=1, manifest_sha256="0" * 64,
                                problem_count=0, problems="[]", event_seq=1))
    return Archive(lent, overdue, moving, missing, held)


@pytest.fixture
def clerk(client: TestClient, world: World) -> TestClient:
    _log_in(client, "clerk")
    return client


def _labels(html: str) -> list[str]:
    return re.findall(r'<a href="/carriers/(\w+)" class="code">', html)


def test_each_list_shows_its_carriers(clerk: TestClient, archive: Archive) -> None:
    a = archive
    expected = {
        "loans": [a.overdue, a.lent],  # the earliest due first
        "overdue": [a.overdue],
        "transfers": [a.moving],
        "missing": [a.missing],
        "holds": [a.held],
        "at-risk": [a.held],
        "verification": [a.held],
    }
    for name, labels in expected.items():
        r = clerk.get(f"/lists/{name}")
        assert r.status_code == 200, (name, r.text)
        assert _labels(r.text) == labels, name
        assert f'href="/lists/{name}" aria-current="page"' in r.text
    overdue = clerk.get("/lists/overdue").text
    assert "10 days" in overdue and "Dr Wang (Cardiology)" in overdue
    moving = clerk.get("/lists/transfers").text
    assert "Offsite vault" in moving and "SEAL-1" in moving and "1 day" in moving
    held = clerk.get("/lists/holds").text
    assert "court order &lt;7&gt;" in held and "<7>" not in held
    assert "1 absent, 0 incomplete" in clerk.get("/lists/at-risk").text
    assert "never verified" in clerk.get("/lists/verification").text
    assert clerk.get("/lists/nothing").status_code == 404


def _add_to(name: str, engine: Engine, settings: Settings, world: World, label: str) -> None:
    """Put the carrier on list ``name``."""
    if name in ("loans", "overdue"):
        _lend(engine, settings, world, label, 3 if name == "loans" else -3)
        return
    today = site_today(settings)
    with session_scope(engine) as session:
        if name == "holds":
            custody_service.set_hold(session=session, principal=SYSTEM, label=label,
                                     reason="x", hold=True, today=today)
        elif name == "missing":
            custody_service.report_missing(session=session, principal=SYSTEM, label=label,
                                           missing_in=custody_schemas.Missing(), today=today)
        elif name == "transfers":
            custody_service.dispatch(session=session, principal=SYSTEM, today=today,
                                     dispatch_in=custody_schemas.Dispatch(labels=[label],
                                                                          to_location="VAULT"))
        else:
            carrier = carrier_service.get_by_label(session=session, label=label)
            session.add(MediaIntake(carrier_id=carrier.id or 0, read_at=utcnow(), file_count=1,
                                    instance_count=1, byte_count=1, manifest_sha256="0" * 64,
                                    problem_count=0, problems="[]", event_seq=1))


@pytest.mark.parametrize(
    "name", ["loans", "overdue", "transfers", "holds", "missing", "verification"]
)
def test_a_list_costs_the_same_queries_however_long(
    clerk: TestClient, engine: Engine, settings: Settings, world: World, name: str
) -> None:
    _add_to(name, engine, settings, world, world.labels[0])
    with counting(engine) as short:
        assert len(_labels(clerk.get(f"/lists/{name}").text)) == 1
    # Each new carrier on a shelf of its own: a row that looked up its place would show.
    more = []
    with session_scope(engine) as session:
        for n in range(10, 14):
            location_service.create(session=session, location_in=LocationCreate(
                code=f"SHELF{n}", name=f"Shelf {n}", kind=LocationKind.SHELF, parent="ARCH"),
                by=SYSTEM)
    for n in range(10, 14):
        more.append(make_carrier(engine, f"RAD{n:07d}", study=n))
        with session_scope(engine) as session:
            custody_service.store(session=session, principal=SYSTEM, label=more[-1],
                                  store_in=custody_schemas.Store(location=f"SHELF{n}"),
                                  today=site_today(settings))
    for label in world.labels[1:] + more:
        _add_to(name, engine, settings, world, label)
    with counting(engine) as long:
        assert len(_labels(clerk.get(f"/lists/{name}").text)) == 7
    assert len(short) > 3 and len(long) == len(short), "\n".join(long)


def _chart(html: str, key: str) -> dict[str, int]:
    svg = re.search(rf'<svg [^>]*data-chart="{key}".*?</svg>', html, re.S)
    assert svg is not None, key
    assert f'<title id="{key}-title">' in svg.group(0) and f'<desc id="{key}-desc">' in svg.group(0)
    return {label: int(value) for label, value in
            re.findall(r'data-label="([^"]*)" data-value="(\d+)"', svg.group(0))}


def _share(html: str, key: str) -> tuple[int, int]:
    found = re.search(rf'data-chart="{key}" data-part="(\d+)" data-whole="(\d+)"', html)
    assert found is not None, key
    return int(found.group(1)), int(found.group(2))


def test_the_dashboard_says_the_databases_numbers(
    clerk: TestClient, archive: Archive, engine: Engine
) -> None:
    html = clerk.get("/dashboard").text
    with engine.connect() as conn:
        by_state = dict(conn.execute(
            text("SELECT status, COUNT(*) FROM carrier GROUP BY status")).all())
        events = conn.execute(text(
            "SELECT COUNT(*) FROM custody_event WHERE carrier_id IS NOT NULL "
            "AND action <> 'lookup'")).scalar_one()
    states = _chart(html, "states")
    names = {"in_storage": "in storage", "checked_out": "lent out", "in_transit": "in transit",
             "missing": "missing"}
    assert {names[s]: n for s, n in by_state.items()} == {k: v for k, v in states.items() if v}
    assert states == {**dict.fromkeys(states, 0), "in storage": 1, "lent out": 2,
                      "in transit": 1, "missing": 1}
    assert _chart(html, "places") == {"Archive": 1}  # only the carrier on hold is on its shelf
    assert _chart(html, "overdue") == {"1–7 days": 0, "8–30 days": 1, "31+ days": 0}
    activity = _chart(html, "activity")
    assert len(activity) == 30 and sum(activity.values()) == events > 0
    assert _share(html, "fixity") == (0, 5)  # its manifest was never verified
    assert _share(html, "pacs") == (1, 5)
    tiles = dict(re.findall(r'data-list="([\w-]+)"><span class="count">(\d+)</span>', html))
    assert tiles == {"loans": "2", "overdue": "1", "transfers": "1", "missing": "1",
                     "holds": "1", "at-risk": "1", "verification": "1"}
    assert "(1 late)" in html


def test_chart_text_is_escaped(clerk: TestClient, world: World, engine: Engine) -> None:
    from app.locations.models import Location

    with session_scope(engine) as session:
        room = session.exec(select(Location).where(Location.code == "ARCH")).one()
        room.path = "City Hospital / <script>alert(1)</script>"
    html = clerk.get("/dashboard").text
    assert "<script>alert" not in html
    assert _chart(html, "places") == {"&lt;script&gt;alert(1)&lt;/script&gt;": 3}


def test_who_may_see_the_lists(client: TestClient, world: World) -> None:
    _log_in(client, "auditor")
    assert client.get("/lists/loans").status_code == 200
    assert client.get("/dashboard").status_code == 200
    assert 'href="/dashboard"' in client.get("/where").text
    client.cookies.clear()
    _log_in(client, "clinician")
    assert client.get("/dashboard").status_code == 403
    assert client.get("/lists/overdue").status_code == 403
    assert 'href="/dashboard"' not in client.get("/where").text
