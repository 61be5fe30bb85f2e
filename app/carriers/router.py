from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.auth.deps import require
from app.carriers import service
from app.carriers.schemas import CarrierCreate, CarrierListPublic, CarrierPublic, CarrierStatus
from app.core.db import ReadSessionDep, SessionDep
from app.core.deps import Limit, Offset, TodayDep
from app.core.principal import Principal
from app.core.validation import LABEL_PATTERN, LOCATION_CODE_PATTERN, LabelPath

router = APIRouter(prefix="/carriers", tags=["carriers"])
Label = Annotated[str, Query(pattern=LABEL_PATTERN)]


@router.post("", response_model=CarrierPublic, status_code=201)
def register_carrier(
    session: SessionDep,
    today: TodayDep,
    principal: Annotated[Principal, Depends(require("carriers.register"))],
    carrier_in: CarrierCreate,
) -> CarrierPublic:
    """Register a carrier (status "registered" at its home location)."""
    carrier = service.register(session=session, principal=principal, carrier_in=carrier_in)
    return service.to_public(session=session, carrier=carrier, today=today)


@router.get("", response_model=CarrierListPublic)
def read_carriers(
    session: ReadSessionDep,
    today: TodayDep,
    _: Annotated[Principal, Depends(require("carriers.read"))],
    offset: Offset = 0,
    limit: Limit = 100,
    status: CarrierStatus | None = None,
    location: Annotated[str | None, Query(pattern=LOCATION_CODE_PATTERN)] = None,
) -> CarrierListPublic:
    rows, total = service.list_carriers(
        session=session, status=status, location=location, offset=offset, limit=limit
    )
    data = service.public_views(session=session, carriers=rows, today=today)
    return CarrierListPublic(data=data, count=total)


@router.get("/{label}", response_model=CarrierPublic)
def read_carrier(
    session: ReadSessionDep,
    today: TodayDep,
    _: Annotated[Principal, Depends(require("carriers.read"))],
    label: LabelPath,
) -> CarrierPublic:
    carrier = service.get_by_label(session=session, label=label)
    return service.to_public(session=session, carrier=carrier, today=today)
