from __future__ import annotations

import re

from sqlmodel import Session, col, select

from app.audit import service as audit_service
from app.carriers.models import Carrier
from app.core.errors import InvalidInputError, NotFoundError
from app.core.ids import id_of
from app.core.principal import Principal
from app.core.validation import MODALITY_PATTERN
from app.preservation import service as preservation_service
from app.studies.models import CarrierStudy, Study
from app.studies.schemas import StudyIn

_MODALITY = r"^[A-Z0-9]{1,16}$"


def get_by_uid(*, session: Session, study_uid: str) -> Study:
    study = session.exec(select(Study).where(Study.study_uid == study_uid)).one_or_none()
    if study is None:
        raise NotFoundError("No study with that UID is on file.")
    return study


def upsert(*, session: Session, study_in: StudyIn) -> Study:
    """Create the study, or update it from a newer reading (matched by StudyInstanceUID)."""
    if any(not re.fullmatch(MODALITY_PATTERN, m) for m in study_in.modalities):
        raise InvalidInputError("Modalities are DICOM codes such as CT, MR, US.")
    values = study_in.model_dump(exclude={"modalities", "encounter_class"})
    values["modalities"] = "\\".join(sorted({m.upper() for m in study_in.modalities}))
    values["encounter_class"] = study_in.encounter_class.value if study_in.encounter_class else None
    study = session.exec(select(Study).where(Study.study_uid == study_in.study_uid)).one_or_none()
    if study is None:
        study = Study(**values)
    else:
        for field, value in values.items():
            if value not in (None, "", 0):
                setattr(study, field, value)
    session.add(study)
    session.flush()
    return study


def link(
    *, session: Session, principal: Principal, carrier: Carrier, studies: list[StudyIn]
) -> list[Study]:
    """Record that the carrier holds these studies; one custody event for the batch."""
    audit_service.lock_head(session)
    linked = []
    for study_in in studies:
        study = upsert(session=session, study_in=study_in)
        key = (carrier.id, study.id)
        row = session.get(CarrierStudy, key)
        if row is None:
            row = CarrierStudy(carrier_id=id_of(carrier), study_id=id_of(study))
        row.instance_count = study_in.instance_count
        session.add(row)
        linked.append(study)
    session.flush()
    # A study's date and encounter class set how long the carrier must be kept.
    preservation_service.refresh_retention(session=session, carrier=carrier)
    audit_service.append(
        session,
        principal=principal,
        action="link_studies",
        carrier=carrier,
        payload={"study_uids": [s.study_uid for s in linked]},
    )
    return linked


def carriers_holding(*, session: Session, study_ids: list[int]) -> list[Carrier]:
    """The carriers holding any of the studies, by label."""
    query = (
        select(Carrier)
        .join(CarrierStudy, col(CarrierStudy.carrier_id) == col(Carrier.id))
        .where(col(CarrierStudy.study_id).in_(study_ids))
        .distinct()
        .order_by(col(Carrier.label))
    )
    return list(session.exec(query))
