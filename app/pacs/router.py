"""PACS checks of a carrier's studies, and the carriers that may hold the only copy."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from app.auth.deps import require
from app.core.db import ReadSessionDep, SessionDep
from app.core.errors import ConflictError
from app.core.openapi import errors
from app.core.principal import Principal
from app.core.validation import LabelPath
from app.pacs import service
from app.pacs.config import PacsSettings
from app.pacs.schemas import AtRiskPublic, PacsCheckPublic
from app.studies.models import Study

router = APIRouter(tags=["pacs"], responses=errors(502))


def get_pacs_settings() -> PacsSettings:
    return PacsSettings()


@router.post("/carriers/{label}/pacs-check", response_model=list[PacsCheckPublic])
def check_carrier(
    session: SessionDep,
    principal: Annotated[Principal, Depends(require("pacs.check"))],
    pacs: Annotated[PacsSettings, Depends(get_pacs_settings)],
    label: LabelPath,
    protocol: Annotated[Literal["qido", "cfind"] | None, Query()] = None,
) -> list[PacsCheckPublic]:
    """Ask the configured PACS (one protocol, or each configured) about every study."""
    clients = pacs.clients()
    chosen = (
        [clients[protocol]] if protocol in clients else [] if protocol else list(clients.values())
    )
    if not chosen:
        raise ConflictError(
            "No PACS is configured for that protocol: set MEDIATRACK_PACS_QIDO_URL, or "
            "MEDIATRACK_PACS_DIMSE_HOST and MEDIATRACK_PACS_DIMSE_AET."
        )
    out = []
    for client in chosen:
        for check in service.check_carrier(
            session=session, principal=principal, label=label, client=client
        ):
            study = session.get(Study, check.study_id)
            out.append(
                PacsCheckPublic(
                    study_uid=study.study_uid if study else "",
                    warnings=json.loads(check.warnings),
                    **check.model_dump(
                        include={
                            "checked_at",
                            "pacs",
                            "status",
                            "carrier_instances",
                            "pacs_instances",
                        }
                    ),
                )
            )
    return out


@router.get("/preservation/at-risk", response_model=list[AtRiskPublic])
def read_at_risk(
    session: ReadSessionDep,
    _: Annotated[Principal, Depends(require("preservation.read"))],
) -> list[AtRiskPublic]:
    """Carriers the PACS lacks (part of) a study of: they may hold the only copy."""
    return [
        AtRiskPublic(
            label=r.carrier.label,
            kind=r.carrier.kind,
            status=r.carrier.status,
            checked_at=r.checked_at,
            studies=r.studies,
        )
        for r in service.at_risk(session=session)
    ]
