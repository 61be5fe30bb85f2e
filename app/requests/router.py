from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from app.auth.deps import require
from app.core.db import ReadSessionDep, SessionDep
from app.core.deps import SettingsDep
from app.core.principal import Principal
from app.core.validation import IdPath
from app.requests import service
from app.requests.schemas import Fulfil, RequestCreate, RequestListPublic, RequestPublic

router = APIRouter(prefix="/requests", tags=["requests"])
Requester = Annotated[Principal, Depends(require("requests.create"))]
Fulfiller = Annotated[Principal, Depends(require("requests.fulfil"))]


@router.post("", response_model=RequestPublic, status_code=201)
def create_request(
    session: SessionDep, settings: SettingsDep, principal: Requester, request_in: RequestCreate
) -> RequestPublic:
    """Ask for a carrier (by its label, or a study's accession number or UID) for a purpose of
    use, by a date. A carrier that is out makes the request ``queued`` until it is back."""
    request = service.create(
        session=session, principal=principal, request_in=request_in, settings=settings
    )
    return service.to_public(session=session, request=request)


@router.get("", response_model=RequestListPublic)
def read_my_requests(session: ReadSessionDep, principal: Requester) -> RequestListPublic:
    """The caller's own requests, newest first."""
    rows = service.list_mine(session=session, user_id=principal.user_id or 0)
    data = [service.to_public(session=session, request=r) for r in rows]
    return RequestListPublic(data=data, count=len(data))


@router.get("/pull-list", response_model=RequestListPublic)
def read_pull_list(session: ReadSessionDep, _: Fulfiller) -> RequestListPublic:
    """Open requests whose carrier is in, by the place it is at, then by the date needed."""
    data = [
        service.to_public(session=session, request=line.request)
        for group in service.pull_list(session=session)
        for line in group.lines
    ]
    return RequestListPublic(data=data, count=len(data))


@router.post("/{request_id}/fulfil", response_model=RequestPublic)
def fulfil_request(
    session: SessionDep,
    settings: SettingsDep,
    principal: Fulfiller,
    request_id: IdPath,
    fulfil_in: Fulfil | None = None,
) -> RequestPublic:
    """Lend the carrier to the requester (as a staff borrower of their display name)."""
    request = service.fulfil(
        session=session, principal=principal, request_id=request_id,
        fulfil_in=fulfil_in or Fulfil(), settings=settings,
    )
    return service.to_public(session=session, request=request)


@router.post("/{request_id}/cancel", response_model=RequestPublic)
def cancel_request(session: SessionDep, principal: Requester, request_id: IdPath) -> RequestPublic:
    """Withdraw one's own request (a clerk may close anyone's)."""
    request = service.cancel(session=session, principal=principal, request_id=request_id)
    return service.to_public(session=session, request=request)
