from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from app.auth.deps import require
from app.core.deps import ReadBudgetDep, TodayDep
from app.core.openapi import errors
from app.core.principal import Principal
from app.core.writer import WriterDep
from app.scans import service
from app.scans.schemas import ScanBatch, ScanResults

router = APIRouter(prefix="/scans", tags=["scans"])


@router.post("", response_model=ScanResults, responses=errors(429))
async def post_scans(
    writer: WriterDep,
    budget: ReadBudgetDep,
    today: TodayDep,
    principal: Annotated[Principal, Depends(require("scans.ingest"))],
    batch: ScanBatch,
) -> ScanResults:
    """A station's reads, one or many. The station is the one the API key belongs to.

    Resolved with the other stations' scans queued at the same moment, and answered after the
    commit of their group (app.core.writer). More reads than the station's budget: 429 with
    Retry-After, nothing recorded.
    """
    budget.take(principal, len(batch.reads))
    results: ScanResults = await writer.run_together(
        service.ingest_together, (principal, batch.reads, today)
    )
    return results
