"""Retention, verification policy, migration to successors, retirement checks and destruction."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.audit import service as audit_service
from app.audit.models import CustodyEvent
from app.carriers import service as carrier_service
from app.carriers.models import Carrier
from app.carriers.schemas import CarrierStatus
from app.core.errors import ConflictError, InvalidInputError, NotFoundError, Phrase
from app.core.ids import id_of
from app.core.principal import Principal
from app.core.time import local_date
from app.media.models import FixityCheck, ManifestEntry, MediaIntake
from app.preservation import retirement
from app.preservation.copies import compare_copies
from app.preservation.models import DestructionRecord, Succession
from app.preservation.policy import PreservationPolicy, retention_until, verification_reasons
from app.studies.models import CarrierStudy, Study

# Custody actions after which a carrier should be read again (it was out of the archive's hands).
_RETURN_ACTIONS = ("return", "receive", "found")


def refresh_retention(
    *, session: Session, carrier: Carrier, policy: PreservationPolicy | None = None
) -> date | None:
    """Set the carrier's retention date from its studies' dates and encounter classes."""
    policy = policy or PreservationPolicy()
    rows = session.exec(
        select(col(Study.study_date), col(Study.encounter_class))
        .join(CarrierStudy, col(CarrierStudy.study_id) == col(Study.id))
        .where(CarrierStudy.carrier_id == carrier.id)
    ).all()
    carrier.retention_until = retention_until(rows, policy)
    session.add(carrier)
    session.flush()
    return carrier.retention_until


@dataclass(frozen=True)
class DueCarrier:
    carrier: Carrier
    last_verified: date | None
    reasons: list[str]


def verification_due(
    *, session: Session, today: date, zone: ZoneInfo, policy: PreservationPolicy | None = None
) -> list[DueCarrier]:
    """Carriers with a manifest that the verification policy says must be read again.
    ``today`` and a verification's day are days in ``zone``, the site's."""
    policy = policy or PreservationPolicy()
    last_ok = (
        select(FixityCheck.carrier_id, func.max(FixityCheck.checked_at).label("at"))
        .where(col(FixityCheck.ok).is_(True))
        .group_by(col(FixityCheck.carrier_id))
        .subquery()
    )
    # Each carrier's latest return from out of the archive's hands, in the same query (a
    # correlated subquery on the log's carrier index), not one query per carrier.
    last_back = (
        select(func.max(CustodyEvent.recorded_at))
        .where(
            col(CustodyEvent.carrier_id) == col(Carrier.id),
            col(CustodyEvent.action).in_(_RETURN_ACTIONS),
        )
        .scalar_subquery()
    )
    rows = session.exec(
        select(Carrier, last_ok.c.at, last_back)
        .outerjoin(last_ok, last_ok.c.carrier_id == col(Carrier.id))
        .where(
            col(Carrier.id).in_(select(MediaIntake.carrier_id)),
            col(Carrier.status).not_in(
                (CarrierStatus.DESTROYED.value, CarrierStatus.MISSING.value)
            ),
        )
        .order_by(col(Carrier.label))
    ).all()
    due = []
    for carrier, last_verified, back_at in rows:
        returned = back_at is not None and (last_verified is None or back_at > last_verified)
        verified_on = local_date(last_verified, zone) if last_verified else None
        reasons = verification_reasons(
            kind=carrier.kind,
            last_verified=verified_on,
            returned_since=returned,
            today=today,
            policy=policy,
        )
        if reasons:
            due.append(DueCarrier(carrier, verified_on, reasons))
    return due


def migrate(
    *,
    session: Session,
    principal: Principal,
    label: str,
    successor_label: str,
    study_uids: list[str] | None = None,
) -> Succession:
    """Link ``successor_label`` as the successor of ``label`` once its manifest holds the same
    bytes for every study moved (all of the carrier's studies unless named)."""
    audit_service.lock_head(session)
    source = carrier_service.get_by_label(session=session, label=label, for_update=True)
    target = carrier_service.get_by_label(session=session, label=successor_label, for_update=True)
    if source.id == target.id:
        raise InvalidInputError("A carrier cannot be its own successor.")
    moved = _studies_to_move(session, source, study_uids)
    _require_manifests(session, source, target)
    _require_faithful_copy(session, source, target, moved)
    _require_not_linked(session, source, target)
    return _link_successor(session, principal, source, target, moved)


def _studies_to_move(session: Session, source: Carrier, study_uids: list[str] | None) -> list[str]:
    """The named studies (all the carrier's, if none are named); each must be on the carrier."""
    held = _study_uids(session=session, carrier=source)
    moved = sorted(set(study_uids)) if study_uids else sorted(held)
    if not moved:
        raise ConflictError(
            "{source} holds no studies to migrate.", source=carrier_service.name_phrase(source)
        )
    if unknown := [uid for uid in moved if uid not in held]:
        raise InvalidInputError(
            "{source} does not hold {count} of the studies named (first: {first}).",
            source=carrier_service.name_phrase(source), count=len(unknown), first=unknown[0],
        )
    return moved


def _require_manifests(session: Session, *carriers: Carrier) -> None:
    for carrier in carriers:
        if not session.exec(
            select(MediaIntake.id).where(MediaIntake.carrier_id == carrier.id)
        ).first():
            raise ConflictError(
                "{carrier} has no manifest: import it before migrating.",
                carrier=carrier_service.name_phrase(carrier),
            )


def _require_faithful_copy(
    session: Session, source: Carrier, target: Carrier, moved: list[str]
) -> None:
    """409 unless the target holds every instance of the moved studies with the same bytes."""
    diffs = [
        d
        for d in compare_copies(_manifest(session, source), _manifest(session, target), moved)
        if not d.ok
    ]
    if diffs:
        missing = sum(len(d.missing) for d in diffs)
        changed = sum(len(d.changed) for d in diffs)
        raise ConflictError(
            "{target} is not a faithful copy of {source}: in {differ} of {moved} studies, "
            "{missing} instances are missing and {changed} differ. Nothing was linked.",
            target=carrier_service.name_phrase(target), source=carrier_service.name_phrase(source),
            differ=len(diffs), moved=len(moved), missing=missing, changed=changed,
        )


def _require_not_linked(session: Session, source: Carrier, target: Carrier) -> None:
    if session.exec(
        select(Succession.id).where(
            Succession.predecessor_id == source.id, Succession.successor_id == target.id
        )
    ).first():
        raise ConflictError(
            "{target} is already the successor of {source}.",
            target=carrier_service.name_phrase(target), source=carrier_service.name_phrase(source),
        )


def _link_successor(
    session: Session, principal: Principal, source: Carrier, target: Carrier, moved: list[str]
) -> Succession:
    """The PREMIS "replication" event and the succession that points at it."""
    event = audit_service.append(
        session,
        principal=principal,
        action="migrate",
        carrier=source,
        payload={
            "premis_event_type": "replication",
            "successor": target.label,
            "successor_id": target.id,
            "study_uids": moved,
        },
    )
    succession = Succession(
        predecessor_id=id_of(source),
        successor_id=id_of(target),
        migrated_at=event.recorded_at,
        study_count=len(moved),
        event_seq=event.seq,
    )
    session.add(succession)
    session.flush()
    return succession


def destroy(
    *,
    session: Session,
    principal: Principal,
    label: str,
    witness: str,
    method: str,
    today: date,
) -> DestructionRecord:
    """Destroy a retired carrier: retention ended, no hold, every study safe, witnessed."""
    audit_service.lock_head(session)
    carrier = carrier_service.get_by_label(session=session, label=label, for_update=True)
    who = carrier_service.name_phrase(carrier)
    witness, method = witness.strip(), method.strip()
    if not witness:
        raise InvalidInputError("A destruction needs a named witness.")
    if CarrierStatus(carrier.status) is not CarrierStatus.RETIRED:
        raise ConflictError(
            "{who} is {status}; retire it first.",
            who=who, status=Phrase(carrier_service.STATUS_WORDS[CarrierStatus(carrier.status)]),
        )
    if carrier.legal_hold:
        raise ConflictError("{who} is under legal hold and cannot be destroyed.", who=who)
    if carrier.retention_until is None:
        raise ConflictError("{who} has no retention date (no dated study); it is kept.", who=who)
    if carrier.retention_until >= today:
        raise ConflictError(
            "{who} must be kept until {day} (retention).",
            who=who, day=carrier.retention_until.isoformat(),
        )
    retirement.ensure_retirable(session=session, carrier=carrier)
    safety = retirement.study_safety(session=session, carrier=carrier)
    carrier.status = CarrierStatus.DESTROYED.value
    session.add(carrier)
    event = audit_service.append(
        session,
        principal=principal,
        action="destroy",
        carrier=carrier,
        payload={
            "premis_event_type": "deaccession",
            "witness": witness,
            "method": method,
            "retention_until": carrier.retention_until.isoformat(),
            "studies": {s.study_uid: s.safe_on for s in safety},
        },
    )
    record = DestructionRecord(
        carrier_id=id_of(carrier),
        destroyed_at=event.recorded_at,
        destroyed_by_id=principal.user_id,
        actor_role=principal.role.value,
        witness=witness,
        method=method,
        retention_until=carrier.retention_until,
        studies=json.dumps({s.study_uid: s.safe_on for s in safety}),
        event_seq=event.seq,
    )
    session.add(record)
    session.flush()
    return record


def destruction_record(*, session: Session, carrier: Carrier) -> DestructionRecord:
    record = session.exec(
        select(DestructionRecord).where(DestructionRecord.carrier_id == carrier.id)
    ).one_or_none()
    if record is None:
        raise NotFoundError(
            "{carrier} has no destruction record.", carrier=carrier_service.name_phrase(carrier)
        )
    return record


def render_destruction_record(*, carrier: Carrier, record: DestructionRecord, site: str) -> str:
    """The printable certificate: plain text, one page, signature lines for actor and witness."""
    studies: dict[str, str] = json.loads(record.studies)
    lines = [
        f"{site}: RECORD OF DESTRUCTION OF A RADIOLOGY ARCHIVE CARRIER",
        "",
        f"Carrier          {carrier_service.name_phrase(carrier)}",
        f"File-set ID/UID  {carrier.fileset_id or '-'} / {carrier.fileset_uid or '-'}",
        f"Destroyed at     {record.destroyed_at.strftime('%Y-%m-%d %H:%M UTC')}",
        f"Method           {record.method or '-'}",
        f"Retention until  {record.retention_until.isoformat()} (ended)",
        f"Performed by     user #{record.destroyed_by_id or '-'} ({record.actor_role})",
        f"Witness          {record.witness}",
        f"Custody log      entry {record.event_seq}",
        "",
        f"Studies held ({len(studies)}), each kept elsewhere:",
        *(f"  {uid}  on {where}" for uid, where in sorted(studies.items())),
        "",
        "Signature (performed by): ______________________   Date: __________",
        "",
        "Signature (witness):      ______________________   Date: __________",
    ]
    return "\n".join(lines) + "\n"


def _study_uids(*, session: Session, carrier: Carrier) -> set[str]:
    return {s.study_uid for s in retirement.studies_on(session=session, carrier=carrier)}


def _manifest(session: Session, carrier: Carrier) -> list[ManifestEntry]:
    return list(session.exec(select(ManifestEntry).where(ManifestEntry.carrier_id == carrier.id)))
