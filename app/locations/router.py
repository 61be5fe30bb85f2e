from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from app.auth.deps import require
from app.core.db import ReadSessionDep, SessionDep
from app.core.deps import Limit, Offset
from app.core.principal import Principal
from app.core.validation import LocationCodePath
from app.locations import service
from app.locations.schemas import LocationCreate, LocationListPublic, LocationPublic

router = APIRouter(prefix="/locations", tags=["locations"])


@router.post("", response_model=LocationPublic, status_code=201)
def create_location(
    session: SessionDep,
    principal: Annotated[Principal, Depends(require("locations.write"))],
    location_in: LocationCreate,
) -> LocationPublic:
    location = service.create(session=session, location_in=location_in, by=principal)
    return service.to_public(session=session, location=location)


@router.get("", response_model=LocationListPublic)
def read_locations(
    session: ReadSessionDep,
    _: Annotated[Principal, Depends(require("locations.read"))],
    offset: Offset = 0,
    limit: Limit = 100,
) -> LocationListPublic:
    rows, total = service.list_all(session=session, offset=offset, limit=limit)
    return LocationListPublic(
        data=[service.to_public(session=session, location=loc) for loc in rows], count=total
    )


@router.get("/{code}", response_model=LocationPublic)
def read_location(
    session: ReadSessionDep,
    _: Annotated[Principal, Depends(require("locations.read"))],
    code: LocationCodePath,
) -> LocationPublic:
    return service.to_public(
        session=session, location=service.get_by_code(session=session, code=code)
    )
