"""Scans of several requests resolved together (one commit group, app.core.writer) answer and
record exactly what they would one request after the other."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, event, text
from sqlmodel import select

from app.audit import service as audit_service
from app.core.db import session_scope
from app.core.principal import Principal, Role
from app.scans import service
from app.scans.schemas import ScanRead
from app.stations.models import Station
from tests.factories import World, site_today, tag_uid


def principal_of(engine: Engine, name: str) -> Principal:
    with session_scope(engine) as session:
        station = session.exec(select(Station).where(Station.name == name)).one()
        return Principal(
            kind="station",
            id=station.id,
            role=Role.STATION,
            station_id=station.id,
            location_id=station.location_id,
        )


def scan(n: int, seq: int, event_id: uuid.UUID | None = None, late: bool = False) -> ScanRead:
    at = datetime.now(UTC) - (timedelta(hours=1) if late else timedelta(0))
    return ScanRead(
        event_id=event_id or uuid.uuid4(),
        station_seq=seq,
        tag_uid=tag_uid(n),
        technology="iso14443a",
        read_at=at,
    )


def test_requests_of_two_stations_resolved_together(engine: Engine, world: World) -> None:
    desk, vault = principal_of(engine, "desk-1"), principal_of(engine, "desk-2")
    repeated, today = uuid.uuid4(), site_today()
    requests = [
        (desk, [scan(1, 1, repeated), scan(2, 2)], today),
        (vault, [scan(1, 1), scan(99, 2)], today),  # seq 1 again, but another station's
        (desk, [scan(1, 1, repeated)], today),  # the first request again: a replay
        (vault, [scan(2, 3, late=True)], today),  # older than desk-1's read: last seen stays
    ]
    inserted: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().startswith("INSERT INTO"):
            inserted.append(statement.split()[2])

    event.listen(engine, "before_cursor_execute", note)
    try:
        with session_scope(engine) as session:
            answers = service.ingest_together(session, requests)
    finally:
        event.remove(engine, "before_cursor_execute", note)

    # The group's new reads are stored in one statement per table, whichever station sent them.
    assert [t for t in inserted if t in ("custody_event", "scan")] == ["custody_event", "scan"]
    outcomes = [[(r.outcome.value, r.replayed) for r in a.results] for a in answers]
    assert outcomes == [
        [("seen", False), ("seen", False)],
        [("seen", False), ("unregistered_tag", False)],
        [("seen", True)],
        [("seen", False)],
    ]
    assert answers[2].results[0].message == answers[0].results[0].message
    with engine.connect() as conn:
        events = conn.execute(
            text(
                "SELECT carrier_id, location_id, station_id FROM custody_event "
                "WHERE action = 'seen' ORDER BY seq"
            )
        ).all()
        places = {
            row[0]: row[1]
            for row in conn.execute(text("SELECT id, last_seen_location_id FROM carrier"))
        }
        seqs = {row[0]: row[1] for row in conn.execute(text("SELECT name, last_seq FROM station"))}
    # Four new sightings, in request order, each at its own station's place.
    assert [(c, s) for c, _, s in events] == [
        (1, desk.station_id),
        (2, desk.station_id),
        (1, vault.station_id),
        (2, vault.station_id),
    ]
    assert places[1] == vault.location_id  # seen last at the vault
    assert places[2] == desk.location_id  # the vault's read of it was older
    assert seqs == {"desk-1": 2, "desk-2": 3}
    with session_scope(engine) as session:
        assert audit_service.verify(session).ok
