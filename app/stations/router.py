from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.auth.deps import require
from app.core.db import ReadSessionDep, SessionDep
from app.core.deps import Limit, Offset
from app.core.principal import Principal
from app.core.validation import StationNamePath
from app.stations import service
from app.stations.schemas import (
    MAX_GRACE_MINUTES,
    StationCreate,
    StationCreated,
    StationListPublic,
    StationPublic,
)

router = APIRouter(prefix="/stations", tags=["stations"])
Admin = Annotated[Principal, Depends(require("stations.manage"))]
GraceMinutes = Annotated[int, Query(ge=0, le=MAX_GRACE_MINUTES)]


@router.post("", response_model=StationCreated, status_code=201)
def create_station(session: SessionDep, admin: Admin, station_in: StationCreate) -> StationCreated:
    """Register a station. Its API key is in this answer and nowhere else: keep it."""
    station, key = service.create(session=session, station_in=station_in, by=admin)
    public = service.to_public(session=session, station=station)
    return StationCreated(**public.model_dump(), api_key=key)


@router.get("/me", response_model=StationPublic)
def read_own_station(
    session: ReadSessionDep, principal: Annotated[Principal, Depends(require("stations.self"))]
) -> StationPublic:
    """The calling station: its place and the last sequence number the service received
    (an agent with a new outbox continues after it)."""
    station = service.get(session=session, station_id=principal.station_id or 0)
    return service.to_public(session=session, station=station)


@router.get("", response_model=StationListPublic)
def read_stations(
    session: ReadSessionDep, _: Admin, offset: Offset = 0, limit: Limit = 100
) -> StationListPublic:
    rows, total = service.list_all(session=session, offset=offset, limit=limit)
    return StationListPublic(
        data=[service.to_public(session=session, station=s) for s in rows], count=total
    )


@router.post("/{name}/revoke", response_model=StationPublic)
def revoke_station(session: SessionDep, admin: Admin, name: StationNamePath) -> StationPublic:
    station = service.revoke(session=session, name=name, by=admin)
    return service.to_public(session=session, station=station)


@router.post("/{name}/rotate-key", response_model=StationCreated)
def rotate_station_key(
    session: SessionDep, admin: Admin, name: StationNamePath, grace_minutes: GraceMinutes = 60
) -> StationCreated:
    """Give the station a new API key, in this answer and nowhere else. The old key keeps
    working for ``grace_minutes`` (0: stops at once, for a key that leaked), time to put the
    new one on the station without a refused scan."""
    station, key = service.rotate_key(
        session=session, name=name, grace=timedelta(minutes=grace_minutes), by=admin
    )
    public = service.to_public(session=session, station=station)
    return StationCreated(**public.model_dump(), api_key=key)
