"""EPCIS 2.0 documents for a carrier, a campaign and a date range, checked against GS1's
official JSON Schema on both databases."""

from __future__ import annotations

import json
import tracemalloc
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import col, select

from app.audit import service as audit_service
from app.audit.models import CustodyEvent
from app.carriers.models import Carrier
from app.core.config import Settings
from app.core.db import session_scope
from app.core.principal import SYSTEM
from app.epcis import service
from app.epcis.schemas import EventFilter
from app.inventory.models import Campaign, Sighting, SweepSession
from app.locations.models import Location
from tests.factories import World, tag_uid

Problems = Callable[[Any], list[str]]
PUBLIC = "http://127.0.0.1:8000"


def _export(client: TestClient, world: World, **params: str | int) -> dict[str, Any]:
    r = client.get("/api/v1/epcis/events", params=params, headers=world.auth("auditor"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/ld+json")
    document: dict[str, Any] = r.json()
    return document


def _steps(document: dict[str, Any]) -> list[tuple[str, str | None, str | None]]:
    return [
        (e["action"], e.get("bizStep"), e.get("disposition"))
        for e in document["epcisBody"]["eventList"]
    ]


def _move(client: TestClient, world: World, path: str, body: dict[str, Any]) -> Any:
    r = client.post(f"/api/v1{path}", json=body, headers=world.auth("clerk"))
    assert r.status_code in (200, 201), r.text
    return r.json()


def _a_carriers_life(client: TestClient, world: World, label: str) -> None:
    """Seen at the desk, lent and returned, sent to the vault and back, lost and found."""
    r = client.post(
        "/api/v1/scans",
        json={
            "reads": [
                {
                    "event_id": "8d5b5f0e-4a57-4a43-9d1e-5b0e0c1f2a01",
                    "station_seq": 1,
                    "tag_uid": tag_uid(1),
                    "technology": "iso14443a",
                    "read_at": "2026-03-02T01:00:00Z",
                }
            ]
        },
        headers=world.auth("station"),
    )
    assert r.status_code == 200, r.text
    _move(
        client,
        world,
        f"/carriers/{label}/checkout",
        {"borrower_id": world.borrower_id, "purpose": "TREAT"},
    )
    _move(client, world, f"/carriers/{label}/return", {"location": "SHELF1"})
    transfer = _move(client, world, "/transfers", {"labels": [label], "to_location": "VAULT"})
    _move(client, world, f"/transfers/{transfer['id']}/receive", {})
    _move(client, world, f"/carriers/{label}/missing", {})
    _move(client, world, f"/carriers/{label}/found", {"location": "SHELF2"})
    _move(client, world, f"/carriers/{label}/store", {"location": "SHELF2"})


def test_gs1s_own_example_validates(epcis_dir: Path, epcis_problems: Problems) -> None:
    example = json.loads((epcis_dir / "Example_9.6.1-ObjectEvent.jsonld").read_text())
    assert epcis_problems(example) == []


def test_a_carriers_history_validates_and_tells_its_steps(
    client: TestClient, world: World, epcis_problems: Problems
) -> None:
    label = world.labels[0]
    _a_carriers_life(client, world, label)
    document = _export(client, world, carrier=label)
    assert epcis_problems(document) == []
    assert document["@context"] == "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
    assert (document["type"], document["schemaVersion"]) == ("EPCISDocument", "2.0")
    events = document["epcisBody"]["eventList"]
    assert _steps(document) == [
        ("ADD", "commissioning", "active"),
        ("OBSERVE", "encoding", None),
        ("OBSERVE", "storing", "available"),
        ("OBSERVE", "inspecting", None),
        ("OBSERVE", "departing", "unavailable"),
        ("OBSERVE", "receiving", "available"),
        ("OBSERVE", "shipping", "in_transit"),
        ("OBSERVE", "receiving", "available"),
        ("OBSERVE", None, "unknown"),
        ("OBSERVE", "receiving", "in_progress"),
        ("OBSERVE", "storing", "available"),
    ]
    assert {u for e in events for u in e["epcList"]} == {f"{PUBLIC}/c/{label}"}
    # The scan's time is the station's read time; the others are when they were logged.
    assert events[3]["eventTime"] == "2026-03-02T01:00:00.000000Z"
    assert events[3]["readPoint"] == {"id": f"{PUBLIC}/locations/DESK"}
    assert "bizLocation" not in events[3]
    # Dispatched from the shelf: read there, and no longer there.
    assert events[6]["readPoint"] == {"id": f"{PUBLIC}/locations/SHELF1"}
    assert "bizLocation" not in events[6]
    assert events[7]["bizLocation"] == {"id": f"{PUBLIC}/locations/VAULT"}
    assert events[-1]["bizLocation"] == {"id": f"{PUBLIC}/locations/SHELF2"}
    assert {e["eventTimeZoneOffset"] for e in events} == {"+08:00"}  # Asia/Shanghai
    ids = [e["eventID"] for e in events]
    assert len(set(ids)) == len(ids) and all(i.startswith("ni:///sha-256;") for i in ids)
    # Stable: asked again, the same events carry the same IDs.
    again = _export(client, world, carrier=label)
    assert [e["eventID"] for e in again["epcisBody"]["eventList"]] == ids


def test_holds_are_persistent_dispositions(
    client: TestClient, world: World, epcis_problems: Problems
) -> None:
    label = world.labels[1]
    admin = world.auth("admin")
    for step in ("hold", "release"):
        r = client.post(
            f"/api/v1/carriers/{label}/{step}", json={"reason": "court order"}, headers=admin
        )
        assert r.status_code == 200, r.text
    document = _export(client, world, carrier=label)
    assert epcis_problems(document) == []
    held, released = document["epcisBody"]["eventList"][-2:]
    assert (held["bizStep"], held["persistentDisposition"]) == ("holding", {"set": ["unavailable"]})
    assert released["persistentDisposition"] == {"unset": ["unavailable"]}


def test_no_patient_data_in_the_document(client: TestClient, world: World) -> None:
    label = world.labels[0]
    _a_carriers_life(client, world, label)
    r = client.get(
        "/api/v1/epcis/events", params={"since": "2000-01-01"}, headers=world.auth("auditor")
    )
    assert r.status_code == 200
    # The factories' patient IDs, accession numbers, study UIDs and the borrower's name.
    for secret in ("ZZCANARY", "ACC0000", "1.2.826.0.1.3680043", "Dr Wang", "Cardiology"):
        assert secret not in r.text


def test_a_broken_document_fails_the_schema(
    client: TestClient, world: World, epcis_problems: Problems
) -> None:
    document = _export(client, world, carrier=world.labels[0])
    assert epcis_problems(document) == []
    event = document["epcisBody"]["eventList"][0]
    for key, wrong in [
        ("bizStep", "wrong_step"),
        ("disposition", "lost"),
        ("action", "LOOK"),
        ("eventTimeZoneOffset", "+8"),
        ("eventTime", "yesterday"),
    ]:
        broken = json.loads(json.dumps(document))
        broken["epcisBody"]["eventList"][0] = {**event, key: wrong}
        assert epcis_problems(broken), key
    missing_context = {k: v for k, v in document.items() if k != "@context"}
    assert epcis_problems(missing_context)


def _campaign(engine: Engine) -> tuple[int, int]:
    """Two campaigns over the archive; the first counted two carriers on shelves 1 and 2."""
    with session_scope(engine) as session:
        places = {p.code: p.id for p in session.exec(select(Location))}
        carriers = {c.label: c.id for c in session.exec(select(Carrier))}
        ids = []
        for n in (1, 2):
            campaign = Campaign(
                name=f"Spring {n}",
                scope_location_id=places["ARCH"],
                starts_on=date(2026, 1, 1),
                ends_on=date(2026, 1, 31),
            )
            session.add(campaign)
            session.flush()
            ids.append(campaign.id or 0)
        sweep = SweepSession(
            uuid="0b7e6f7c-1d7a-4b8e-9a55-3d86c2f1e001",
            campaign_id=ids[0],
            device="phone",
            started_at=datetime.fromisoformat("2026-01-10T01:00:00Z"),
            last_read_at=datetime.fromisoformat("2026-01-10T16:30:00Z"),
            shelf_id=places["SHELF2"],
        )
        session.add(sweep)
        session.flush()
        for label, shelf, at, read_class in [
            ("RAD0000001", "SHELF1", "2026-01-10T01:00:00Z", "found"),  # 09:00 in Shanghai
            ("RAD0000002", "SHELF2", "2026-01-10T16:30:00Z", "misplaced"),  # 00:30 next day
        ]:
            session.add(
                Sighting(
                    campaign_id=ids[0],
                    carrier_id=carriers[label],
                    shelf_id=places[shelf],
                    read_at=datetime.fromisoformat(at),
                    session_id=sweep.id or 0,
                    read_class=read_class,
                )
            )
        carrier = session.exec(select(Carrier).where(Carrier.label == "RAD0000002")).one()
        for campaign_id in ids:
            audit_service.append(
                session,
                principal=SYSTEM,
                action="inventory_result",
                carrier=carrier,
                location_id=places["SHELF2"],
                payload={
                    "campaign_id": campaign_id,
                    "class": "misplaced",
                    "was": "in_storage",
                    "now": "missing",
                },
            )
        # The campaign's summary has no carrier: no ObjectEvent of its own.
        audit_service.append(
            session,
            principal=SYSTEM,
            action="inventory_closed",
            payload={"campaign_id": ids[0], "counts": {}, "swept": [], "reported_missing": []},
        )
    return ids[0], ids[1]


def _swept_and_closed(client: TestClient, world: World) -> int:
    """A campaign over the archive through the inventory API: shelf 1 swept (RAD0000001 found,
    RAD0000003 not seen), RAD0000002 read on shelf 2 and put back, then closed with the
    not-seen reported missing."""
    clerk = world.auth("clerk")
    today = datetime.now(UTC).date()
    r = client.post(
        "/api/v1/inventory/campaigns",
        json={"name": "Year-end", "scope": "ARCH", "starts_on": str(today), "ends_on": str(today)},
        headers=clerk,
    )
    assert r.status_code == 201, r.text
    campaign = int(r.json()["id"])
    session, t0 = str(uuid.uuid4()), datetime.now(UTC) - timedelta(minutes=10)
    reads = [
        {"location": "SHELF1"},
        {"tag_uid": tag_uid(1)},
        {"location": "SHELF2"},
        {"tag_uid": tag_uid(2)},
    ]
    r = client.post(
        f"/api/v1/inventory/campaigns/{campaign}/reads",
        json={
            "reads": [
                {
                    "event_id": str(uuid.uuid4()),
                    "session": session,
                    "read_at": (t0 + timedelta(minutes=n)).isoformat(),
                    **subject,
                }
                for n, subject in enumerate(reads)
            ]
        },
        headers=clerk,
    )
    assert r.status_code == 200, r.text
    assert [x["class"] for x in r.json()["results"]] == ["shelf", "found", "shelf", "misplaced"]
    for path, body in [
        ("resolve", {"label": "RAD0000002", "action": "put_back"}),
        ("close", {"report_missing": True}),
    ]:
        r = client.post(f"/api/v1/inventory/campaigns/{campaign}/{path}", json=body, headers=clerk)
        assert r.status_code == 200, r.text
    return campaign


def test_a_campaigns_sightings_and_results(
    client: TestClient, world: World, epcis_problems: Problems
) -> None:
    campaign = _swept_and_closed(client, world)
    document = _export(client, world, campaign=campaign)
    assert epcis_problems(document) == []
    events = document["epcisBody"]["eventList"]
    assert [(e["bizStep"], e["epcList"][0].rsplit("/", 1)[1]) for e in events] == [
        # From the custody log: the correction, then the close's result.
        ("storing", "RAD0000002"),
        ("cycle_counting", "RAD0000003"),
        # Then the sightings, in read order (the not-seen RAD0000003 was not observed).
        ("cycle_counting", "RAD0000001"),
        ("cycle_counting", "RAD0000002"),
    ]
    put_back, result, found, misplaced = events
    assert put_back["bizLocation"] == {"id": f"{PUBLIC}/locations/SHELF1"}
    assert (result["disposition"], result["readPoint"]["id"]) == (
        "unknown",
        f"{PUBLIC}/locations/SHELF1",
    )
    assert "bizLocation" not in result  # reported missing: not where it was expected
    assert "recordTime" not in found and "disposition" not in found
    assert found["bizLocation"] == found["readPoint"] == {"id": f"{PUBLIC}/locations/SHELF1"}
    assert misplaced["readPoint"] == {"id": f"{PUBLIC}/locations/SHELF2"}
    assert len({e["eventID"] for e in events}) == 4
    # A carrier and a campaign: both filters hold.
    only = _export(client, world, campaign=campaign, carrier="RAD0000001")
    assert [e["epcList"] for e in only["epcisBody"]["eventList"]] == [[f"{PUBLIC}/c/RAD0000001"]]


def test_a_date_range(
    client: TestClient, world: World, engine: Engine, epcis_problems: Problems
) -> None:
    _campaign(engine)
    # Days are the site's (Asia/Shanghai): 10 January there holds only the first sighting.
    document = _export(client, world, since="2026-01-10", until="2026-01-10")
    assert epcis_problems(document) == []
    assert [e["epcList"][0] for e in document["epcisBody"]["eventList"]] == [
        f"{PUBLIC}/c/RAD0000001"
    ]
    # Times with a zone cut the custody log exactly where asked.
    with session_scope(engine) as session:
        logged = list(session.exec(select(CustodyEvent).order_by(col(CustodyEvent.seq))))
    register = [e for e in logged if e.action == "register"]
    cut = register[1].recorded_at.isoformat()
    document = _export(client, world, since="2000-01-01", until=cut)
    assert epcis_problems(document) == []
    before = [e for e in document["epcisBody"]["eventList"] if e["bizStep"] != "cycle_counting"]
    assert {e["epcList"][0] for e in before} == {f"{PUBLIC}/c/RAD0000001"}
    document = _export(client, world, since=cut)
    labels = {e["epcList"][0].rsplit("/", 1)[1] for e in document["epcisBody"]["eventList"]}
    assert labels == {"RAD0000002", "RAD0000003"}


def _peak_bytes(engine: Engine, settings: Settings, carrier_id: int) -> tuple[int, int]:
    """Events in the document and the most memory building it took at any moment (the
    chunks are counted and dropped, as a client writing them to a socket would)."""
    events = 0
    tracemalloc.start()
    try:
        for chunk in service.document(
            engine, settings=settings, event_filter=EventFilter(carrier_id=carrier_id)
        ):
            events += chunk.count('"type": "ObjectEvent"')
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return events, peak


def test_a_long_history_streams_in_flat_memory(
    world: World, engine: Engine, settings: Settings
) -> None:
    with session_scope(engine) as session:
        ids = {c.label: c.id or 0 for c in session.exec(select(Carrier))}
        shelf = session.exec(select(Location).where(Location.code == "SHELF1")).one().id
        for label, reads in (("RAD0000001", 2_000), ("RAD0000002", 20_000)):
            audit_service.append_many(
                session,
                principal=SYSTEM,
                entries=[
                    audit_service.Entry(
                        action="seen", payload={"n": n}, carrier_id=ids[label], location_id=shelf
                    )
                    for n in range(reads)
                ],
            )
    short, short_peak = _peak_bytes(engine, settings, ids["RAD0000001"])
    long, long_peak = _peak_bytes(engine, settings, ids["RAD0000002"])
    assert (short, long) > (2_000, 20_000)
    # Ten times the events, about the same memory: batches, not the whole history at once.
    assert long_peak < 2 * short_peak, (short_peak, long_peak)
