from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from app.audit import service as audit_service
from app.auth.deps import require
from app.carriers import service as carrier_service
from app.carriers.schemas import CarrierPublic
from app.core.db import SessionDep
from app.core.deps import TodayDep
from app.core.ids import id_of
from app.core.principal import Principal
from app.core.validation import DicomUidPath, LabelPath, check_dicom_uid
from app.studies import service
from app.studies.schemas import StudyLink, StudyPublic

router = APIRouter(tags=["studies"])


@router.get("/studies/{study_uid}", response_model=StudyPublic)
def read_study(
    session: SessionDep,
    principal: Annotated[Principal, Depends(require("studies.read"))],
    study_uid: DicomUidPath,
) -> StudyPublic:
    """The study record, patient ID included: so who read it is written to the log."""
    study = service.get_by_uid(session=session, study_uid=check_dicom_uid(study_uid))
    carriers = service.carriers_holding(session=session, study_ids=[id_of(study)])
    audit_service.append(
        session,
        principal=principal,
        action="study_read",
        payload={"study_uid": study.study_uid, "carriers": [c.label for c in carriers]},
    )
    return StudyPublic(
        **study.model_dump(
            include={
                "study_uid",
                "accession_number",
                "patient_id",
                "issuer_of_patient_id",
                "study_date",
                "modalities",
                "series_count",
                "instance_count",
            }
        ),
        carriers=[c.label for c in carriers],
    )


@router.post("/carriers/{label}/studies", response_model=CarrierPublic)
def link_studies(
    session: SessionDep,
    today: TodayDep,
    principal: Annotated[Principal, Depends(require("carriers.register"))],
    label: LabelPath,
    link_in: StudyLink,
) -> CarrierPublic:
    """Record studies held on the carrier (created or updated by StudyInstanceUID)."""
    carrier = carrier_service.get_by_label(session=session, label=label)
    service.link(session=session, principal=principal, carrier=carrier, studies=link_in.studies)
    return carrier_service.to_public(session=session, carrier=carrier, today=today)
