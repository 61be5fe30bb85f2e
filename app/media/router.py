"""Intake and fixity over HTTP, for a station that reads the medium itself and sends its reading."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from app.auth.deps import require
from app.carriers import service as carrier_service
from app.core.db import ReadSessionDep, SessionDep
from app.core.deps import Limit, Offset
from app.core.principal import Principal
from app.core.validation import LabelPath
from app.media import service
from app.media.schemas import (
    FixityPublic,
    IntakeIn,
    IntakePublic,
    ManifestLinePublic,
    ManifestPublic,
    ReadingIn,
)

router = APIRouter(prefix="/carriers", tags=["media"])


@router.post("/{label}/intake", response_model=IntakePublic, status_code=201)
def import_medium(
    session: SessionDep,
    principal: Annotated[Principal, Depends(require("media.intake"))],
    label: LabelPath,
    intake_in: IntakeIn,
) -> IntakePublic:
    """Record a reading of the medium: studies, File-set identity and a fresh manifest."""
    register = (
        service.Registration(kind=intake_in.kind, home_location=intake_in.home_location)
        if intake_in.kind and intake_in.home_location
        else None
    )
    intake = service.import_medium(
        session=session,
        principal=principal,
        label=label,
        reading=intake_in.to_reading(),
        register=register,
        accept_problems=intake_in.accept_problems,
    )
    return service.intake_public(session=session, intake=intake)


@router.post("/{label}/verify", response_model=FixityPublic)
def verify_medium(
    session: SessionDep,
    principal: Annotated[Principal, Depends(require("media.verify"))],
    label: LabelPath,
    reading_in: ReadingIn,
) -> FixityPublic:
    """Compare a re-read of the medium with its manifest (a PREMIS fixity check)."""
    check, result = service.verify_medium(
        session=session, principal=principal, label=label, reading=reading_in.to_reading()
    )
    return service.fixity_public(label=label, check=check, result=result)


@router.get("/{label}/manifest", response_model=ManifestPublic)
def read_manifest(
    session: ReadSessionDep,
    _: Annotated[Principal, Depends(require("preservation.read"))],
    label: LabelPath,
    offset: Offset = 0,
    limit: Limit = 500,
) -> ManifestPublic:
    carrier = carrier_service.get_by_label(session=session, label=label)
    lines = service.manifest_of(session=session, carrier=carrier, offset=offset, limit=limit)
    return ManifestPublic(
        label=carrier.label,
        data=[ManifestLinePublic.model_validate(m, from_attributes=True) for m in lines],
        count=service.manifest_size(session=session, carrier=carrier),
    )
