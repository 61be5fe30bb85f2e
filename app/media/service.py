"""Intake and fixity: a carrier's reading becomes its manifest and study links; a re-read is
compared with the manifest. Each is one transaction with its custody event; nothing commits here.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy import func
from sqlmodel import Session, col, delete, select

from app.audit import service as audit_service
from app.carriers import service as carrier_service
from app.carriers.models import Carrier
from app.carriers.schemas import CarrierCreate, CarrierKind, CarrierStatus
from app.core.errors import ConflictError, InvalidInputError, NotFoundError
from app.core.ids import id_of
from app.core.principal import Principal
from app.core.validation import check_label
from app.media.fixity import FixityResult, compare_manifest, manifest_digest
from app.media.models import FixityCheck, ManifestEntry, MediaIntake
from app.media.reading import MediumReading, Severity, StudySummary
from app.media.schemas import FixityPublic, IntakePublic
from app.studies import service as study_service
from app.studies.schemas import StudyIn

# PREMIS event types (id.loc.gov/vocabulary/preservation/eventType) carried in the payloads.
PREMIS_DIGEST = "message digest calculation"
PREMIS_FIXITY = "fixity check"
# File IDs kept per kind of difference in a fixity result; the counts are always complete.
DETAIL_LIMIT = 200


@dataclass(frozen=True)
class Registration:
    """How to register a carrier that intake meets for the first time."""

    kind: CarrierKind
    home_location: str


def import_medium(
    *,
    session: Session,
    principal: Principal,
    label: str,
    reading: MediumReading,
    register: Registration | None = None,
    accept_problems: bool = False,
) -> MediaIntake:
    """Record what a carrier holds: studies linked, File-set identity, a fresh manifest."""
    check_label(label)
    audit_service.lock_head(session)
    _refuse_unusable(label, reading, accept_problems=accept_problems)
    carrier = _carrier_for_intake(
        session=session, principal=principal, label=label, register=register
    )
    studies = [_study_in(s) for s in reading.studies if s.instance_count > 0]
    study_service.link(session=session, principal=principal, carrier=carrier, studies=studies)
    _replace_manifest(session, carrier, reading)
    return _record_intake(session, principal, carrier, reading, studies)


def _refuse_unusable(label: str, reading: MediumReading, *, accept_problems: bool) -> None:
    """422 for a reading with errors (unless accepted) or without any DICOM instance."""
    errors = Counter(p.code.value for p in reading.problems if p.severity is Severity.ERROR)
    if errors and not accept_problems:
        found = ", ".join(f"{n} {code.replace('_', ' ')}" for code, n in sorted(errors.items()))
        raise InvalidInputError(
            "The medium for {label} has problems ({found}); nothing was recorded. Check "
            "the report; to record the medium as it is, import it again accepting the "
            "problems.", label=label, found=found
        )
    if reading.instance_count == 0:
        raise InvalidInputError("No DICOM instance was read for {label}; nothing was "
                                "recorded.", label=label)


def _replace_manifest(session: Session, carrier: Carrier, reading: MediumReading) -> None:
    """The reading's files become the carrier's manifest; its File-set identity is kept."""
    session.exec(delete(ManifestEntry).where(col(ManifestEntry.carrier_id) == carrier.id))
    session.add_all(
        ManifestEntry(
            carrier_id=id_of(carrier),
            path=f.path,
            size=f.size,
            sha256=f.sha256,
            sop_instance_uid=f.sop_instance_uid,
            sop_class_uid=f.sop_class_uid,
            transfer_syntax_uid=f.transfer_syntax_uid,
            study_instance_uid=f.study_instance_uid,
        )
        for f in reading.files
    )
    # File-set ID is CS, at most 16 characters (PS3.5 6.2); a longer one is not kept.
    if reading.fileset_id is not None and len(reading.fileset_id) <= 16:
        carrier.fileset_id = reading.fileset_id
    if reading.fileset_uid is not None and len(reading.fileset_uid) <= 64:
        carrier.fileset_uid = reading.fileset_uid
    session.add(carrier)  # study_service.link also set its retention date


def _record_intake(
    session: Session,
    principal: Principal,
    carrier: Carrier,
    reading: MediumReading,
    studies: list[StudyIn],
) -> MediaIntake:
    """The PREMIS "message digest calculation" event and the intake row that points at it."""
    digest = manifest_digest(reading.files)
    problems = Counter(p.code.value for p in reading.problems)
    event = audit_service.append(
        session,
        principal=principal,
        action="intake",
        carrier=carrier,
        payload={
            "premis_event_type": PREMIS_DIGEST,
            "fileset_id": reading.fileset_id,
            "fileset_uid": reading.fileset_uid,
            "files": len(reading.files),
            "instances": reading.instance_count,
            "bytes": reading.byte_count,
            "manifest_sha256": digest,
            "study_uids": sorted(s.study_uid for s in studies),
            "problems": dict(sorted(problems.items())),
        },
    )
    intake = MediaIntake(
        carrier_id=id_of(carrier),
        read_at=event.recorded_at,
        fileset_id=carrier.fileset_id,
        fileset_uid=carrier.fileset_uid,
        file_count=len(reading.files),
        instance_count=reading.instance_count,
        byte_count=reading.byte_count,
        manifest_sha256=digest,
        problem_count=len(reading.problems),
        problems=json.dumps(reading.to_json()["problems"]),
        event_seq=event.seq,
    )
    session.add(intake)
    session.flush()
    return intake


def verify_medium(
    *, session: Session, principal: Principal, label: str, reading: MediumReading
) -> tuple[FixityCheck, FixityResult]:
    """Compare a re-read with the manifest; the outcome is a PREMIS "fixity check" event."""
    audit_service.lock_head(session)
    carrier = carrier_service.get_by_label(session=session, label=label, for_update=True)
    manifest = manifest_of(session=session, carrier=carrier)
    if not manifest:
        raise ConflictError(
            "{carrier} has no manifest yet: import it first.",
            carrier=carrier_service.name_phrase(carrier),
        )
    result = compare_manifest(manifest, reading)
    event = audit_service.append(
        session,
        principal=principal,
        action="verify",
        carrier=carrier,
        payload={
            "premis_event_type": PREMIS_FIXITY,
            "outcome": "success" if result.ok else "failure",
            "detail": result.summary(),
            "manifest_sha256": manifest_digest(manifest),
            "checked": result.checked,
            "missing": len(result.missing),
            "changed": len(result.changed),
            "extra": len(result.extra),
            "unreadable": len(result.unreadable),
        },
    )
    check = FixityCheck(
        carrier_id=id_of(carrier),
        checked_at=event.recorded_at,
        ok=result.ok,
        checked=result.checked,
        missing=len(result.missing),
        changed=len(result.changed),
        extra=len(result.extra),
        unreadable=len(result.unreadable),
        detail=json.dumps(
            {
                "missing": result.missing[:DETAIL_LIMIT],
                "changed": result.changed[:DETAIL_LIMIT],
                "extra": result.extra[:DETAIL_LIMIT],
                "unreadable": result.unreadable[:DETAIL_LIMIT],
            }
        ),
        event_seq=event.seq,
    )
    session.add(check)
    session.flush()
    return check, result


def manifest_of(
    *, session: Session, carrier: Carrier, offset: int = 0, limit: int | None = None
) -> list[ManifestEntry]:
    """The carrier's manifest by File ID (all of it, or one page)."""
    query = select(ManifestEntry).where(ManifestEntry.carrier_id == carrier.id)
    query = query.order_by(col(ManifestEntry.path)).offset(offset).limit(limit)
    return list(session.exec(query))


def manifest_size(*, session: Session, carrier: Carrier) -> int:
    query = select(func.count()).select_from(ManifestEntry)
    return session.exec(query.where(ManifestEntry.carrier_id == carrier.id)).one()


def _carrier_for_intake(
    *, session: Session, principal: Principal, label: str, register: Registration | None
) -> Carrier:
    existing = session.exec(select(Carrier).where(Carrier.label == label)).one_or_none()
    if existing is None:
        if register is None:
            raise NotFoundError(
                "No carrier is registered under that label; give its media kind and home "
                "location to register it at intake."
            )
        try:
            carrier_in = CarrierCreate(
                label=label, kind=register.kind, home_location=register.home_location
            )
        except ValidationError as exc:
            raise InvalidInputError(
                "{label} cannot be registered: a label is 1 to 16 characters of A-Z, 0-9 "
                "and _, and a location code 1 to 32 of A-Z, 0-9, _ and -.", label=label
            ) from exc
        return carrier_service.register(session=session, principal=principal, carrier_in=carrier_in)
    carrier = carrier_service.get_by_label(session=session, label=label, for_update=True)
    if CarrierStatus(carrier.status) is CarrierStatus.DESTROYED:
        raise ConflictError(
            "{carrier} was destroyed; it has no content.",
            carrier=carrier_service.name_phrase(carrier),
        )
    return carrier


def _study_in(summary: StudySummary) -> StudyIn:
    """The study record from a reading. Values that break the record's limits are refused
    with the attribute's name only: the values themselves are patient data."""
    try:
        return StudyIn(
            study_uid=summary.study_instance_uid,
            accession_number=summary.accession_number,
            patient_id=summary.patient_id,
            issuer_of_patient_id=summary.issuer_of_patient_id,
            study_date=summary.study_date,
            modalities=summary.modalities,
            series_count=summary.series_count,
            instance_count=summary.instance_count,
        )
    except ValidationError as exc:
        fields = ", ".join(sorted({str(e["loc"][0]) for e in exc.errors()}))
        raise InvalidInputError(
            "Study {study_instance_uid} on the medium has values the record cannot hold "
            "({fields}); nothing was recorded.",
            study_instance_uid=summary.study_instance_uid, fields=fields,
        ) from exc


def intake_public(*, session: Session, intake: MediaIntake) -> IntakePublic:
    carrier = session.get(Carrier, intake.carrier_id)
    assert carrier is not None
    return IntakePublic(
        label=carrier.label,
        retention_until=carrier.retention_until,
        **intake.model_dump(
            include={
                "read_at",
                "fileset_id",
                "fileset_uid",
                "file_count",
                "instance_count",
                "byte_count",
                "manifest_sha256",
                "problem_count",
            }
        ),
    )


def fixity_public(*, label: str, check: FixityCheck, result: FixityResult) -> FixityPublic:
    return FixityPublic(
        label=label,
        checked_at=check.checked_at,
        ok=result.ok,
        summary=result.summary(),
        checked=result.checked,
        missing=list(result.missing),
        changed=list(result.changed),
        extra=list(result.extra),
        unreadable=list(result.unreadable),
    )
