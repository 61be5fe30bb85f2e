"""Ingest a station's reads: resolve the tag, log "seen", answer what the desk should show.

Delivery is idempotent: a read already stored under its event id or its (station, sequence)
answers exactly what it answered the first time, flagged ``replayed``, and changes nothing.
A batch is resolved with a fixed number of queries, whatever its size.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, col, or_, select

from app.audit import service as audit_service
from app.carriers import service as carrier_service
from app.carriers.schemas import CarrierStatus
from app.core.errors import AppError
from app.core.ids import id_of
from app.core.principal import Principal
from app.core.time import utcnow
from app.core.validation import normalise_uid
from app.custody.transitions import next_actions
from app.locations import service as location_service
from app.scans.models import Scan
from app.scans.schemas import Outcome, ScanCarrier, ScanRead, ScanResult
from app.stations.models import Station
from app.tags import service as tag_service


def ingest(*, session: Session, principal: Principal, reads: list[ScanRead]) -> list[ScanResult]:
    assert principal.station_id is not None and principal.location_id is not None
    audit_service.lock_head(session)
    station = session.get(Station, principal.station_id)
    assert station is not None
    answered = _already_stored(session, id_of(station), reads)
    uids = _normalised(reads)
    valid = sorted({uid for uid in uids.values() if isinstance(uid, str)})
    carriers = tag_service.carriers_of(session=session, uids=valid)
    places = location_service.get_by_tags(
        session=session, uids=[u for u in valid if u not in carriers]
    )
    snaps = carrier_service.snapshots(session=session, carriers=list(carriers.values()))
    now = utcnow()
    results: list[ScanResult] = []
    seen: list[audit_service.Entry] = []
    rows: list[dict[str, Any]] = []
    seen_index: list[int | None] = []  # per row: its entry in ``seen``, if it has one
    for read in reads:
        event_id = str(read.event_id)
        stored = answered.get(("e", event_id)) or answered.get(("s", read.station_seq))
        if stored is not None:
            replay = ScanResult.model_validate_json(stored)
            results.append(replay.model_copy(update={"replayed": True}))
            continue
        uid = uids[event_id]
        entry = None
        if isinstance(uid, AppError):
            result = _answer(read, Outcome.REJECTED, f"Unreadable tag: {uid.message}")
        elif uid in carriers:
            snap = snaps[id_of(carriers[uid])]
            entry = _seen_entry(principal, snap, read)
            seen.append(entry)
            result = _seen(read, snap, principal)
        elif uid in places:
            result = _answer(read, Outcome.LOCATION, f"Location tag: {places[uid].path}.")
        else:
            result = _answer(
                read,
                Outcome.UNREGISTERED,
                f"Tag {uid} is not on any registered carrier: register it at this desk.",
                actions=["register"],
            )
        answer = result.model_dump_json()
        rows.append(
            {
                "event_id": event_id,
                "station_id": station.id,
                "station_seq": read.station_seq,
                "tag_uid": read.tag_uid,
                "technology": read.technology.value,
                "read_at": read.read_at,
                "received_at": now,
                "outcome": result.outcome.value,
                "event_seq": None,
                "response": answer,
            }
        )
        seen_index.append(len(seen) - 1 if entry else None)
        # The same batch may repeat a read: later copies answer as replays.
        answered[("e", event_id)] = answered[("s", read.station_seq)] = answer
        results.append(result)
    appended = audit_service.append_many(session, principal=principal, entries=seen)
    for row, index in zip(rows, seen_index, strict=True):
        if index is not None:
            row["event_seq"] = appended[index].seq
    if rows:
        session.execute(insert(Scan), rows)
    station.last_seen_at = now
    station.last_seq = max([station.last_seq, *(r.station_seq for r in reads)])
    session.add(station)
    session.flush()
    return results


def _normalised(reads: list[ScanRead]) -> dict[str, str | AppError]:
    """Each read's UID in normal form, or the error that says why it is not a UID."""
    uids: dict[str, str | AppError] = {}
    for read in reads:
        try:
            uids[str(read.event_id)] = normalise_uid(read.tag_uid, read.technology)
        except AppError as exc:
            uids[str(read.event_id)] = exc
    return uids


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


def _seen_entry(
    principal: Principal, snap: carrier_service.Snapshot, read: ScanRead
) -> audit_service.Entry:
    """Note when and where the carrier was last seen; the "seen" event to append."""
    carrier = snap.carrier
    carrier.last_seen_at = read.read_at
    carrier.last_seen_location_id = principal.location_id
    return audit_service.Entry.about(
        carrier,
        action="seen",
        location_id=principal.location_id,
        payload={
            "event_id": str(read.event_id),
            "station_seq": read.station_seq,
            "read_at": read.read_at.isoformat(),
        },
    )


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


def _seen(read: ScanRead, snap: carrier_service.Snapshot, principal: Principal) -> ScanResult:
    carrier = snap.carrier
    sentence = carrier_service.state_sentence(snap)
    if carrier.status == CarrierStatus.IN_STORAGE and carrier.current_location_id != (
        principal.location_id
    ):
        sentence += " It was just read at another place: check where it belongs."
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
