from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.auth.deps import require
from app.core.db import SessionDep
from app.core.deps import SettingsDep, TodayDep
from app.core.principal import Principal
from app.core.validation import QueryText
from app.lookup import service
from app.lookup.schemas import QueryKind, WhereResult

router = APIRouter(tags=["lookup"])


@router.get("/where", response_model=WhereResult)
def where_is(
    session: SessionDep,
    settings: SettingsDep,
    today: TodayDep,
    principal: Annotated[Principal, Depends(require("lookup"))],
    q: QueryText,
    kind: QueryKind = QueryKind.AUTO,
    issuer: Annotated[str | None, Query(max_length=64)] = None,
) -> WhereResult:
    """Where is it? By tag UID, label, StudyInstanceUID, accession number or patient ID (with
    its issuer, IssuerOfPatientID, when the ID is known under several: ``issuers`` lists them)."""
    return service.where(
        session=session,
        principal=principal,
        query=q,
        kind=kind,
        secret=settings.secret_key,
        today=today,
        issuer=issuer,
    )
