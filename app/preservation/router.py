"""Verification due, migration, retention, destruction and the export of a carrier's record."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse

from app.auth.deps import require
from app.carriers import service as carrier_service
from app.core.db import ReadSessionDep, SessionDep
from app.core.deps import SettingsDep, TodayDep
from app.core.principal import Principal
from app.core.validation import LabelPath
from app.preservation import export, retirement, service
from app.preservation.schemas import (
    DestroyIn,
    DestructionPublic,
    DueCarrierPublic,
    MigrateIn,
    RetentionPublic,
    StudySafetyPublic,
    SuccessionPublic,
)

router = APIRouter(tags=["preservation"])


@router.get("/preservation/verification-due", response_model=list[DueCarrierPublic])
def read_verification_due(
    session: ReadSessionDep,
    settings: SettingsDep,
    today: TodayDep,
    _: Annotated[Principal, Depends(require("preservation.read"))],
) -> list[DueCarrierPublic]:
    """Carriers the verification policy says must be read again, with the reasons."""
    return [
        DueCarrierPublic(
            label=d.carrier.label,
            kind=d.carrier.kind,
            status=d.carrier.status,
            last_verified=d.last_verified,
            reasons=d.reasons,
        )
        for d in service.verification_due(session=session, today=today, zone=settings.zone)
    ]


@router.post("/carriers/{label}/migrate", response_model=SuccessionPublic, status_code=201)
def migrate(
    session: SessionDep,
    principal: Annotated[Principal, Depends(require("preservation.manage"))],
    label: LabelPath,
    migrate_in: MigrateIn,
) -> SuccessionPublic:
    """Link a successor whose manifest holds the same bytes for every study moved."""
    succession = service.migrate(
        session=session,
        principal=principal,
        label=label,
        successor_label=migrate_in.successor,
        study_uids=migrate_in.study_uids,
    )
    return SuccessionPublic(
        predecessor=label,
        successor=migrate_in.successor,
        migrated_at=succession.migrated_at,
        study_count=succession.study_count,
    )


@router.get("/carriers/{label}/safety", response_model=list[StudySafetyPublic])
def read_safety(
    session: ReadSessionDep,
    _: Annotated[Principal, Depends(require("preservation.read"))],
    label: LabelPath,
) -> list[StudySafetyPublic]:
    """Where else each study of the carrier is safely kept (None: nowhere known)."""
    carrier = carrier_service.get_by_label(session=session, label=label)
    return [
        StudySafetyPublic(study_uid=s.study_uid, safe_on=s.safe_on)
        for s in retirement.study_safety(session=session, carrier=carrier)
    ]


@router.post("/carriers/{label}/retention", response_model=RetentionPublic)
def refresh_retention(
    session: SessionDep,
    _: Annotated[Principal, Depends(require("preservation.manage"))],
    label: LabelPath,
) -> RetentionPublic:
    """Work the retention date out again from the carrier's studies and the rules."""
    carrier = carrier_service.get_by_label(session=session, label=label, for_update=True)
    service.refresh_retention(session=session, carrier=carrier)
    return RetentionPublic(
        label=carrier.label, retention_until=carrier.retention_until, legal_hold=carrier.legal_hold
    )


@router.post("/carriers/{label}/destroy", response_model=DestructionPublic, status_code=201)
def destroy(
    session: SessionDep,
    today: TodayDep,
    principal: Annotated[Principal, Depends(require("preservation.destroy"))],
    label: LabelPath,
    destroy_in: DestroyIn,
) -> DestructionPublic:
    """Destroy a retired carrier (retention ended, no hold, studies safe, witnessed)."""
    record = service.destroy(
        session=session,
        principal=principal,
        label=label,
        witness=destroy_in.witness,
        method=destroy_in.method,
        today=today,
    )
    return DestructionPublic(
        label=label,
        studies=json.loads(record.studies),
        **record.model_dump(include={"destroyed_at", "witness", "method", "retention_until"}),
    )


@router.get("/carriers/{label}/destruction-record", response_class=PlainTextResponse)
def read_destruction_record(
    session: ReadSessionDep,
    settings: SettingsDep,
    _: Annotated[Principal, Depends(require("preservation.read"))],
    label: LabelPath,
) -> str:
    """The printable destruction record (plain text)."""
    carrier = carrier_service.get_by_label(session=session, label=label)
    record = service.destruction_record(session=session, carrier=carrier)
    return service.render_destruction_record(
        carrier=carrier, record=record, site=settings.SITE_NAME
    )


@router.get("/carriers/{label}/history/premis")
def read_premis_history(
    session: ReadSessionDep,
    _: Annotated[Principal, Depends(require("audit.export"))],
    label: LabelPath,
) -> dict[str, Any]:
    """The carrier's custody and preservation history as PREMIS-style events."""
    carrier = carrier_service.get_by_label(session=session, label=label)
    return export.premis_events(session=session, carrier=carrier)


@router.get("/carriers/{label}/history/atna")
def read_atna_history(
    session: ReadSessionDep,
    settings: SettingsDep,
    _: Annotated[Principal, Depends(require("audit.export"))],
    label: LabelPath,
) -> dict[str, Any]:
    """Media import/export as DICOM PS3.15 A.5 (IHE ATNA) audit messages, one XML each."""
    carrier = carrier_service.get_by_label(session=session, label=label)
    return {
        "schema": "DICOM PS3.15 A.5.1 AuditMessage",
        "messages": export.atna_messages(session=session, carrier=carrier, site=settings.SITE_NAME),
    }
