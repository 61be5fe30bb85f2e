from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from app.auth.deps import require
from app.borrowers import service
from app.borrowers.schemas import BorrowerCreate, BorrowerListPublic, BorrowerPublic
from app.core.db import ReadSessionDep, SessionDep
from app.core.deps import Limit, Offset
from app.core.principal import Principal

router = APIRouter(prefix="/borrowers", tags=["borrowers"])


@router.post("", response_model=BorrowerPublic, status_code=201)
def create_borrower(
    session: SessionDep,
    principal: Annotated[Principal, Depends(require("borrowers.write"))],
    borrower_in: BorrowerCreate,
) -> BorrowerPublic:
    borrower = service.create(session=session, borrower_in=borrower_in, by=principal)
    return BorrowerPublic.model_validate(borrower, from_attributes=True)


@router.get("", response_model=BorrowerListPublic)
def read_borrowers(
    session: ReadSessionDep,
    _: Annotated[Principal, Depends(require("borrowers.read"))],
    offset: Offset = 0,
    limit: Limit = 100,
) -> BorrowerListPublic:
    rows, total = service.list_all(session=session, offset=offset, limit=limit)
    data = [BorrowerPublic.model_validate(b, from_attributes=True) for b in rows]
    return BorrowerListPublic(data=data, count=total)
