from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import WithJsonSchema
from sqlalchemy import Engine

from app.auth.deps import require
from app.core.db import SessionDep, get_engine
from app.core.deps import SettingsDep
from app.core.principal import Principal
from app.core.validation import LABEL_PATTERN
from app.epcis import service
from app.epcis.schemas import MEDIA_TYPE

router = APIRouter(prefix="/epcis", tags=["epcis"])

Bound = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=40,
        description="a day (YYYY-MM-DD) or an ISO 8601 time with its zone",
    ),
    WithJsonSchema(
        {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]}
    ),
]


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={200: {"content": {MEDIA_TYPE: {}}, "description": "EPCIS 2.0 JSON-LD document"}},
)
def read_epcis_events(
    session: SessionDep,
    settings: SettingsDep,
    engine: Annotated[Engine, Depends(get_engine)],
    principal: Annotated[Principal, Depends(require("inventory.read"))],
    carrier: Annotated[str | None, Query(pattern=LABEL_PATTERN)] = None,
    campaign: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    since: Bound = None,
    until: Bound = None,
) -> StreamingResponse:
    """Custody and inventory events as a GS1 EPCIS 2.0 document, for a carrier, a campaign
    or a date range (any combination). Streamed: the filters are checked (and the export is
    logged) before the first byte, so an error is a plain 4xx answer."""
    event_filter = service.make_filter(
        session=session,
        settings=settings,
        carrier=carrier,
        campaign=campaign,
        since=since,
        until=until,
    )
    service.log_export(session, principal=principal, event_filter=event_filter)
    return StreamingResponse(
        service.document(engine, settings=settings, event_filter=event_filter),
        media_type=MEDIA_TYPE,
    )
