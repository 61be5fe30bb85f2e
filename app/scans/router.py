from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlmodel import Session

from app.auth.deps import require
from app.core.principal import Principal
from app.core.time import utcnow
from app.core.writer import WriterDep
from app.scans import service
from app.scans.schemas import ScanBatch, ScanResults

router = APIRouter(prefix="/scans", tags=["scans"])


@router.post("", response_model=ScanResults)
async def post_scans(
    writer: WriterDep,
    principal: Annotated[Principal, Depends(require("scans.ingest"))],
    batch: ScanBatch,
) -> ScanResults:
    """A station's reads, one or many. The station is the one the API key belongs to.

    Answered after the commit of the group of concurrent scans that holds them (app.core.writer).
    """

    def ingest(session: Session) -> ScanResults:
        results = service.ingest(session=session, principal=principal, reads=batch.reads)
        return ScanResults(results=results, received_at=utcnow())

    return await writer.run(ingest)
