"""Ingest a station's reads: resolve the tag, log "seen", answer what the desk should show.

Delivery is idempotent: a read already stored under its event id or its (station, sequence)
answers exactly what it answered the first time, flagged ``replayed``, and changes nothing.
"""

from __future__ import annotations

from sqlmodel import Session, col, or_, select

from app.audit import service as audit_service
from app.audit.models import CustodyEvent
from app.borrowers.models import Borrower
from app.carriers import service as carrier_service
from app.carriers.models import Carrier
from app.carriers.schemas import CarrierStatus
from app.core.errors import AppError
from app.core.principal import Principal
from app.core.time import utcnow
from app.core.validation import normalise_uid
from app.locations import service as location_service
from app.scans.models import Scan
from app.scans.schemas import Outcome, ScanCarrier, ScanRead, ScanResult
from app.stations.models import Station
from app.tags import service as tag_service

# What a clerk can do next, by status (names match the custody routes).
NEXT_ACTIONS: dict[CarrierStatus, list[str]] = {
    CarrierStatus.REGISTERED: ["store", "label", "report_missing"],
    CarrierStatus.IN_STORAGE: ["check_out", "dispatch", "store", "report_missing", "label"],
    CarrierStatus.CHECKED_OUT: ["return", "report_missing"],
    CarrierStatus.IN_TRANSIT: ["receive", "report_missing"],
    CarrierStatus.MISSING: ["found"],
    CarrierStatus.FOUND: ["store"],
    CarrierStatus.RETIRED: [],
    CarrierStatus.DESTROYED: [],
}


def ingest(*, session: Session, principal: Principal, reads: list[ScanRead]) -> list[ScanResult]:
    assert principal.station_id is not None and principal.location_id is not None
    audit_service.lock_head(session)
    station = session.get(Station, principal.station_id)
    assert station is not None
    known = _already_stored(session, station.id or 0, reads)
    now = utcnow()
    results: list[ScanResult] = []
    for read in reads:
        event_id = str(read.event_id)
        stored = known.get(("e", event_id)) or known.get(("s", read.station_seq))
        if stored is not None:
            replay = ScanResult.model_validate_json(stored)
            results.append(replay.model_copy(update={"replayed": True}))
            continue
        result, event_seq = _resolve(session, principal, read)
        session.add(
            Scan(
                event_id=event_id,
                station_id=station.id or 0,
                station_seq=read.station_seq,
                tag_uid=read.tag_uid[:64],
                technology=read.technology.value,
                read_at=read.read_at,
                received_at=now,
                outcome=result.outcome.value,
                event_seq=event_seq,
                response=result.model_dump_json(),
            )
        )
        # The same batch may repeat a read: later copies answer as replays.
        known[("e", event_id)] = known[("s", read.station_seq)] = result.model_dump_json()
        results.append(result)
    station.last_seen_at = now
    station.last_seq = max([station.last_seq, *(r.station_seq for r in reads)])
    session.add(station)
    session.flush()
    return results


def _already_stored(
    session: Session, station_id: int, reads: list[ScanRead]
) -> dict[tuple[str, object], str]:
    """Stored answers of reads already delivered, by ("e", event id) and ("s", sequence)."""
    event_ids = [str(r.event_id) for r in reads]
    seqs = [r.station_seq for r in reads]
    query = select(Scan).where(
        or_(
            col(Scan.event_id).in_(event_ids),
            (col(Scan.station_id) == station_id) & col(Scan.station_seq).in_(seqs),
        )
    )
    found: dict[tuple[str, object], str] = {}
    for scan in session.exec(query):
        found[("e", scan.event_id)] = scan.response
        if scan.station_id == station_id:
            found[("s", scan.station_seq)] = scan.response
    return found


def _resolve(
    session: Session, principal: Principal, read: ScanRead
) -> tuple[ScanResult, int | None]:
    event_id = str(read.event_id)
    try:
        uid = normalise_uid(read.tag_uid, read.technology)
    except AppError as exc:
        return ScanResult(
            event_id=event_id,
            station_seq=read.station_seq,
            outcome=Outcome.REJECTED,
            message=f"Unreadable tag: {exc.message}",
        ), None
    carrier = tag_service.carrier_of(session=session, uid=uid)
    if carrier is None:
        place = location_service.get_by_tag(session=session, uid=uid)
        if place is not None:
            return ScanResult(
                event_id=event_id,
                station_seq=read.station_seq,
                outcome=Outcome.LOCATION,
                message=f"Location tag: {place.path}.",
            ), None
        return ScanResult(
            event_id=event_id,
            station_seq=read.station_seq,
            outcome=Outcome.UNREGISTERED,
            message=f"Tag {uid} is not on any registered carrier: register it at this desk.",
            actions=["register"],
        ), None
    event = _record_seen(session, principal, carrier, read)
    sentence = carrier_service.state_sentence(session=session, carrier=carrier)
    here = principal.location_id
    if carrier.status == CarrierStatus.IN_STORAGE and carrier.current_location_id != here:
        sentence += " It was just read at another place: check where it belongs."
    return ScanResult(
        event_id=event_id,
        station_seq=read.station_seq,
        outcome=Outcome.SEEN,
        message=sentence,
        carrier=_short(session, carrier),
        actions=NEXT_ACTIONS[CarrierStatus(carrier.status)],
    ), event.seq


def _record_seen(
    session: Session, principal: Principal, carrier: Carrier, read: ScanRead
) -> CustodyEvent:
    carrier.last_seen_at = read.read_at
    carrier.last_seen_location_id = principal.location_id
    session.add(carrier)
    return audit_service.append(
        session,
        principal=principal,
        action="seen",
        carrier_id=carrier.id,
        location_id=principal.location_id,
        payload={
            "label": carrier.label,
            "event_id": str(read.event_id),
            "station_seq": read.station_seq,
            "read_at": read.read_at.isoformat(),
        },
    )


def _short(session: Session, carrier: Carrier) -> ScanCarrier:
    place = location_service.get(session=session, location_id=carrier.current_location_id)
    loan = carrier_service.open_loan(session=session, carrier_id=carrier.id or 0)
    borrower = session.get(Borrower, loan.borrower_id) if loan else None
    return ScanCarrier(
        label=carrier.label,
        kind=carrier.kind,
        status=carrier.status,
        location_path=place.path,
        holder=borrower.name if borrower else None,
        due_at=loan.due_on.isoformat() if loan else None,
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
            for s in carrier_service.studies_of(session=session, carrier_id=carrier.id or 0)
        ],
    )
