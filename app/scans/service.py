"""Ingest stations' reads: resolve the tag, log "seen", answer what the desk should show.

Delivery is idempotent: a read already stored under its event id or its (station, sequence)
answers exactly what it answered the first time, flagged ``replayed``, and changes nothing.
The requests of a commit group (app.core.writer), from one station or many, are resolved
together with a fixed number of queries, whatever their number and size.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update
from sqlmodel import Session

from app.audit import service as audit_service
from app.carriers import service as carrier_service
from app.carriers.schemas import CarrierStatus
from app.core.announce import announce
from app.core.errors import AppError
from app.core.ids import id_of
from app.core.principal import Principal
from app.core.time import utcnow
from app.core.validation import clock_is_wrong, normalise_uid
from app.custody.transitions import next_actions
from app.locations import service as location_service
from app.scans.models import Scan
from app.scans.schemas import Outcome, ScanCarrier, ScanRead, ScanResult, ScanResults
from app.stations.models import Station

# One station's request: who sent it, its reads, and the archive's day as its router saw it
# (app.core.time.local_today): a lent carrier's answer counts days overdue from it.
Request = tuple[Principal, list[ScanRead], date]


@dataclass
class _Fresh:
    """A read not stored before: its scan row and, for a carrier, its "seen" event, by the
    station that sent it."""

    row: dict[str, Any]
    entry: audit_service.Entry | None
    by: Principal


def ingest(
    *, session: Session, principal: Principal, reads: list[ScanRead], today: date
) -> ScanResults:
    return ingest_together(session, [(principal, reads, today)])[0]


def ingest_together(session: Session, requests: list[Request]) -> list[ScanResults]:
    """Each request's answer, in order, as if they had come one after the other."""
    audit_service.lock_head(session)
    now = utcnow()
    stations = _stations(session, requests)
    every_read = [read for _, reads, _ in requests for read in reads]
    answered = _already_stored(session, requests)
    facts = _Facts.load(session, every_read)
    answers: list[ScanResults] = []
    sightings: list[carrier_service.Seen] = []
    # Every request's new reads, stored together once all are resolved (nothing below reads
    # them back from the database: a read repeated later in the group is in ``answered``).
    new_reads: list[_Fresh] = []
    for principal, reads, today in requests:
        assert principal.station_id is not None and principal.location_id is not None
        station = stations[principal.station_id]
        resolve = _Resolver.at(session, facts, principal, station, now, today)
        results: list[ScanResult] = []
        fresh: list[_Fresh] = []
        for read in reads:
            event_id = str(read.event_id)
            stored = answered.get(("e", event_id)) or answered.get(
                ("s", station.id, read.station_seq)
            )
            if stored is not None:
                replay = ScanResult.model_validate_json(stored)
                results.append(replay.model_copy(update={"replayed": True}))
                continue
            clock_wrong = clock_is_wrong(read.read_at, now)
            result, entry = resolve(read, received_at=now, clock_wrong=clock_wrong)
            if clock_wrong:
                result.clock_wrong = True
                result.message += f" {CLOCK_SENTENCE}"
            answer = result.model_dump_json()
            row = _scan_row(read, station.id, now, result, answer)
            fresh.append(_Fresh(row, entry, principal))
            # A later read may repeat this one: it answers as a replay.
            answered[("e", event_id)] = answered[("s", station.id, read.station_seq)] = answer
            results.append(result)
        new_reads += fresh
        sightings += resolve.seen
        station.shelf_id, station.shelf_set_at = resolve.shelf_id, resolve.shelf_set_at
        _note_station(station, reads, fresh, now)
        if fresh:
            # The desk bound to this station shows the latest tap (see app/web/desk.py).
            latest = json.dumps({"station_id": station.id, "event_id": fresh[-1].row["event_id"]})
            announce(session, SCAN_CHANNEL, latest)
        answers.append(ScanResults(results=results, received_at=now))
    _store(session, new_reads)
    carrier_service.note_seen(session=session, seen=sightings)
    _move_stations(session, list(stations.values()))
    return answers


# How long a shelf tag read at a station stays its shelf: a handheld sweeping reads the next
# shelf's tag well within it; a desk that once read a shelf tag is back at its place after.
SHELF_CONTEXT = timedelta(minutes=30)

# Where a committed scan is announced to the pages (app.core.announce).
SCAN_CHANNEL = "mediatrack_scans"


# Shown on the desk and printed by the agent when a station dated a read implausibly.
CLOCK_SENTENCE = (
    "This station's clock is wrong: the read is recorded at the time the server received it. "
    "Set the station's date and time."
)


@dataclass
class _Facts:
    """What each UID of a group's reads is (a carrier, a location tag, an unknown or malformed
    UID), loaded with a fixed number of queries."""

    uids: dict[str, str | AppError]
    carriers: dict[str, carrier_service.Snapshot]
    places: dict[str, Any]

    @classmethod
    def load(cls, session: Session, reads: list[ScanRead]) -> _Facts:
        uids = _normalised(reads)
        valid = sorted({uid for uid in uids.values() if isinstance(uid, str)})
        carriers = carrier_service.snapshots_by_tag(session=session, uids=valid)
        places = location_service.get_by_tags(
            session=session, uids=[u for u in valid if u not in carriers]
        )
        return cls(uids, carriers, places)


@dataclass
class _Resolver:
    """One station's reads against the facts; the station's shelf context moves as it reads
    shelf tags."""

    facts: _Facts
    principal: Principal
    today: date
    # The shelf whose tag the station read last, while it holds (SHELF_CONTEXT), and its path.
    shelf_id: int | None
    shelf_set_at: datetime | None
    shelf_path: str | None
    # The carriers seen, in read order: their "last seen" moves once for the whole group.
    seen: list[carrier_service.Seen] = field(default_factory=list)

    @classmethod
    def at(
        cls,
        session: Session,
        facts: _Facts,
        principal: Principal,
        station: _Station,
        now: datetime,
        today: date,
    ) -> _Resolver:
        shelf = None
        if station.shelf_id and station.shelf_set_at and now - station.shelf_set_at < SHELF_CONTEXT:
            shelf = location_service.get(session=session, location_id=station.shelf_id)
        return cls(
            facts,
            principal,
            today,
            shelf.id if shelf else None,
            station.shelf_set_at if shelf else None,
            shelf.path if shelf else None,
        )

    def __call__(
        self, read: ScanRead, *, received_at: datetime, clock_wrong: bool
    ) -> tuple[ScanResult, audit_service.Entry | None]:
        facts = self.facts
        uid = facts.uids[str(read.event_id)]
        if isinstance(uid, AppError):
            return _answer(read, Outcome.REJECTED, f"Unreadable tag: {uid.message}"), None
        if uid in facts.carriers:
            snap = facts.carriers[uid]
            where = self.shelf_id or self.principal.location_id
            entry, seen = _seen_entry(where, snap, read, received_at, clock_wrong)
            self.seen.append(seen)
            return _seen(read, snap, self.shelf_path, self.today), entry
        if uid in facts.places:
            # A shelf tag: the carriers read next are seen on this shelf (a handheld sweeping).
            place = facts.places[uid]
            self.shelf_id, self.shelf_set_at, self.shelf_path = place.id, received_at, place.path
            message = f"Shelf {place.path}: the carriers read next are recorded on it."
            return _answer(read, Outcome.LOCATION, message), None
        message = f"Tag {uid} is not on any registered carrier: register it at this desk."
        return _answer(read, Outcome.UNREGISTERED, message, actions=["register"]), None


def _scan_row(
    read: ScanRead, station_id: int | None, now: datetime, result: ScanResult, answer: str
) -> dict[str, Any]:
    return {
        "event_id": str(read.event_id),
        "station_id": station_id,
        "station_seq": read.station_seq,
        "tag_uid": read.tag_uid,
        "technology": read.technology.value,
        "read_at": read.read_at,
        "clock_wrong": result.clock_wrong,
        "received_at": now,
        "outcome": result.outcome.value,
        "event_seq": None,
        "response": answer,
    }


# Built once, on the table: the ORM's bulk insert cost more than the insert itself.
_SCAN_INSERT = insert(Scan.__table__)  # type: ignore[attr-defined]


def _store(session: Session, fresh: list[_Fresh]) -> None:
    """Append the "seen" events in read order, then the scan rows that point at them: one
    statement each for the whole group, whichever stations sent the reads."""
    with_entry = [(f, f.entry) for f in fresh if f.entry is not None]
    appended = audit_service.append_by(session, [(f.by, entry) for f, entry in with_entry])
    for (item, _), event in zip(with_entry, appended, strict=True):
        item.row["event_seq"] = event.seq
    if fresh:
        session.connection().execute(_SCAN_INSERT, [f.row for f in fresh])


def _note_station(
    station: _Station, reads: list[ScanRead], fresh: list[_Fresh], now: datetime
) -> None:
    """The station was heard from; its clock is as wrong as its latest new read says."""
    station.last_seen_at = now
    station.last_seq = max([station.last_seq, *(r.station_seq for r in reads)])
    if fresh:
        latest = max(fresh, key=lambda f: int(f.row["station_seq"]))
        station.clock_wrong = bool(latest.row["clock_wrong"])


@dataclass
class _Station:
    """What a scan reads and moves of the station that sent it. Columns, not the ORM's Station:
    loading that object and flushing its changes cost more than the two statements below."""

    id: int
    last_seq: int
    clock_wrong: bool
    shelf_id: int | None
    shelf_set_at: datetime | None
    last_seen_at: datetime | None = None


_STATION_TABLE: Table = Station.__table__  # type: ignore[attr-defined]
_S = _STATION_TABLE.c
# Built once: a scan runs them each time, and building them cost more than running them.
_STATIONS = select(_S.id, _S.last_seq, _S.clock_wrong, _S.shelf_id, _S.shelf_set_at).where(
    _S.id.in_(bindparam("ids", expanding=True))
)
_STATION_MOVE = (
    update(_STATION_TABLE)
    .where(_S.id == bindparam("station_id"))
    .values(
        last_seen_at=bindparam("seen_at", type_=_S.last_seen_at.type),
        last_seq=bindparam("seq"),
        clock_wrong=bindparam("wrong"),
        shelf_id=bindparam("shelf"),
        shelf_set_at=bindparam("shelf_at", type_=_S.shelf_set_at.type),
    )
)


def _stations(session: Session, requests: list[Request]) -> dict[int, _Station]:
    ids = list({principal.station_id for principal, _, _ in requests})
    found = session.connection().execute(_STATIONS, {"ids": ids})
    return {row.id: _Station(*row) for row in found}


def _move_stations(session: Session, stations: list[_Station]) -> None:
    """Write back what the group's reads moved: when each station was heard from, its last
    sequence number, its clock, its shelf."""
    rows = [
        {
            "station_id": s.id,
            "seen_at": s.last_seen_at,
            "seq": s.last_seq,
            "wrong": s.clock_wrong,
            "shelf": s.shelf_id,
            "shelf_at": s.shelf_set_at,
        }
        for s in stations
    ]
    session.connection().execute(_STATION_MOVE, rows)


def _normalised(reads: list[ScanRead]) -> dict[str, str | AppError]:
    """Each read's UID in normal form, or the error that says why it is not a UID."""
    uids: dict[str, str | AppError] = {}
    for read in reads:
        try:
            uids[str(read.event_id)] = normalise_uid(read.tag_uid, read.technology)
        except AppError as exc:
            uids[str(read.event_id)] = exc
    return uids


# Stored answers by event id or by (station, sequence): built once, the sets bound as
# expanding parameters (a scan runs it each time; building it cost more than running it). The
# (station, sequence) pairs are asked for as stations x sequences, a superset cut down to the
# pairs below: SQLite plans a row-value IN list of more than one pair as a scan of the whole
# table, and an IN list per column as probes of the unique index (tests/app/scans/test_plans.py).
_SCANS = Scan.__table__.c  # type: ignore[attr-defined]
_STORED = select(_SCANS.event_id, _SCANS.station_id, _SCANS.station_seq, _SCANS.response).where(
    _SCANS.event_id.in_(bindparam("event_ids", expanding=True))
    | (
        _SCANS.station_id.in_(bindparam("stations", expanding=True))
        & _SCANS.station_seq.in_(bindparam("seqs", expanding=True))
    )
)


def _already_stored(session: Session, requests: list[Request]) -> dict[tuple[object, ...], str]:
    """Stored answers of reads already delivered, by ("e", event id) and ("s", station id,
    sequence)."""
    event_ids = {str(r.event_id) for _, reads, _ in requests for r in reads}
    pairs = {(p.station_id, r.station_seq) for p, reads, _ in requests for r in reads}
    params = {
        "event_ids": sorted(event_ids),
        "stations": sorted({station for station, _ in pairs if station is not None}),
        "seqs": sorted({seq for _, seq in pairs}),
    }
    found: dict[tuple[object, ...], str] = {}
    for event_id, station_id, station_seq, response in session.connection().execute(
        _STORED, params
    ):
        if event_id in event_ids or (station_id, station_seq) in pairs:
            found[("e", event_id)] = response
            found[("s", station_id, station_seq)] = response
    return found


def _seen_entry(
    where: int | None,
    snap: carrier_service.Snapshot,
    read: ScanRead,
    received_at: datetime,
    clock_wrong: bool,
) -> tuple[audit_service.Entry, carrier_service.Seen]:
    """The "seen" event to append, and the sighting that moves the carrier's "last seen". The
    payload keeps the read time as the station sent it, and says when that time was not
    believable (the sighting then takes the time the server received it)."""
    carrier = snap.carrier
    seen_at = received_at if clock_wrong else read.read_at
    entry = audit_service.Entry.about(
        carrier,
        action="seen",
        location_id=where,
        payload={
            "event_id": str(read.event_id),
            "station_seq": read.station_seq,
            "read_at": read.read_at.isoformat(),
            **({"clock_wrong": True} if clock_wrong else {}),
        },
    )
    return entry, (id_of(carrier), seen_at, where)


def _answer(
    read: ScanRead, outcome: Outcome, message: str, actions: list[str] | None = None
) -> ScanResult:
    return ScanResult(
        event_id=str(read.event_id),
        station_seq=read.station_seq,
        outcome=outcome,
        message=message,
        actions=actions or [],
    )


def _seen(
    read: ScanRead, snap: carrier_service.Snapshot, shelf_path: str | None, today: date
) -> ScanResult:
    """A carrier read at a desk says its state; read on a shelf (a handheld just read the
    shelf's tag), it also says when it belongs on another one."""
    carrier = snap.carrier
    sentence = carrier_service.state_sentence(snap, today=today)
    place = snap.place.path
    on_shelf = shelf_path is not None and (
        place == shelf_path or place.startswith(shelf_path + location_service.PATH_SEPARATOR)
    )
    if shelf_path is not None and carrier.status == CarrierStatus.IN_STORAGE and not on_shelf:
        sentence += f" It belongs on {place}, not on {shelf_path}: put it back."
    actions = next_actions(carrier.status, legal_hold=carrier.legal_hold)
    answer = _answer(read, Outcome.SEEN, sentence, actions)
    answer.carrier = ScanCarrier(
        label=carrier.label,
        kind=carrier.kind,
        status=carrier.status,
        location_path=snap.place.path,
        holder=snap.borrower.name if snap.borrower else None,
        due_at=snap.loan.due_on.isoformat() if snap.loan else None,
        set_number=carrier.set_number,
        set_total=carrier.set_total,
        legal_hold=carrier.legal_hold,
        studies=[
            {
                "study_uid": s.study_uid,
                "study_date": s.study_date.isoformat() if s.study_date else None,
                "modalities": s.modalities,
                "instances": s.instance_count,
            }
            for s in snap.studies
        ],
    )
    return answer
