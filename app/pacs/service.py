"""Ask the PACS about every study on a carrier; store the answers with their date; list the
carriers that may hold the only copy of a study."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.audit import service as audit_service
from app.carriers import service as carrier_service
from app.carriers.models import Carrier
from app.carriers.schemas import CarrierStatus
from app.core.errors import ConflictError
from app.core.ids import id_of
from app.core.principal import Principal
from app.pacs.check import PacsStatus, check_studies
from app.pacs.clients import PacsClient
from app.pacs.models import PacsCheck
from app.studies.models import CarrierStudy, Study


@dataclass(frozen=True)
class _CarrierCopy:
    """A study as this carrier holds it: the carrier's own instance count, not the record's."""

    study_instance_uid: str
    patient_id: str | None
    accession_number: str | None
    instance_count: int


def check_carrier(
    *, session: Session, principal: Principal, label: str, client: PacsClient
) -> list[PacsCheck]:
    """One PACS question per study of the carrier; one stored answer each; one custody event."""
    carrier = carrier_service.get_by_label(session=session, label=label)
    rows = session.exec(
        select(Study, CarrierStudy)
        .join(CarrierStudy, col(CarrierStudy.study_id) == col(Study.id))
        .where(CarrierStudy.carrier_id == carrier.id)
        .order_by(col(Study.study_uid))
    ).all()
    if not rows:
        raise ConflictError(
            "{carrier} has no studies on file to check.",
            carrier=carrier_service.name_phrase(carrier),
        )
    copies = [
        _CarrierCopy(s.study_uid, s.patient_id, s.accession_number, link.instance_count)
        for s, link in rows
    ]
    # The network question comes before the log lock, so a slow PACS holds up no other writer.
    results = check_studies(client, copies)
    audit_service.lock_head(session)
    event = audit_service.append(
        session,
        principal=principal,
        action="pacs_check",
        carrier=carrier,
        payload={
            "pacs": client.name,
            "outcome": dict(sorted(Counter(r.status.value for r in results).items())),
            "at_risk": sorted(r.study_instance_uid for r in results if r.at_risk),
        },
    )
    checks = [
        PacsCheck(
            carrier_id=id_of(carrier),
            study_id=id_of(study),
            checked_at=event.recorded_at,
            pacs=client.name[:200],
            status=result.status.value,
            carrier_instances=result.carrier_instances,
            pacs_instances=result.pacs_instances,
            warnings=json.dumps(list(result.warnings)),
        )
        for (study, _), result in zip(rows, results, strict=True)
    ]
    session.add_all(checks)
    session.flush()
    return checks


@dataclass(frozen=True)
class AtRisk:
    carrier: Carrier
    checked_at: datetime
    studies: dict[str, str]  # StudyInstanceUID -> partial / absent


def at_risk(*, session: Session) -> list[AtRisk]:
    """Carriers whose latest PACS answer for some study was partial or absent."""
    latest = select(func.max(PacsCheck.id)).group_by(
        col(PacsCheck.carrier_id), col(PacsCheck.study_id)
    )
    rows = session.exec(
        select(Carrier, PacsCheck, Study.study_uid)
        .join(PacsCheck, col(PacsCheck.carrier_id) == col(Carrier.id))
        .join(Study, col(Study.id) == col(PacsCheck.study_id))
        .where(
            col(PacsCheck.id).in_(latest),
            col(PacsCheck.status) != PacsStatus.COMPLETE.value,
            col(Carrier.status) != CarrierStatus.DESTROYED.value,
        )
        .order_by(col(Carrier.label), col(Study.study_uid))
    ).all()
    grouped: dict[int, AtRisk] = {}
    for carrier, check, study_uid in rows:
        entry = grouped.setdefault(id_of(carrier), AtRisk(carrier, check.checked_at, {}))
        entry.studies[study_uid] = check.status
    return list(grouped.values())
