from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from app.auth.deps import require
from app.core.db import SessionDep
from app.core.principal import Principal
from app.core.time import utcnow
from app.scans import service
from app.scans.schemas import ScanBatch, ScanResults

router = APIRouter(prefix="/scans", tags=["scans"])


@router.post("", response_model=ScanResults)
def post_scans(
    session: SessionDep,
    principal: Annotated[Principal, Depends(require("scans.ingest"))],
    batch: ScanBatch,
) -> ScanResults:
    """A station's reads, one or many. The station is the one the API key belongs to."""
    results = service.ingest(session=session, principal=principal, reads=batch.reads)
    return ScanResults(results=results, received_at=utcnow())
