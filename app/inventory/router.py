from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response

from app.auth.deps import require
from app.core.db import ReadSessionDep, SessionDep
from app.core.deps import ReadBudgetDep, SettingsDep, TodayDep
from app.core.openapi import errors
from app.core.principal import Principal
from app.core.validation import MAX_INT
from app.core.writer import WriterDep
from app.inventory import service
from app.inventory.schemas import (
    CampaignCreate,
    CampaignPublic,
    Close,
    CloseSummary,
    ReadBatch,
    ReadResults,
    Report,
    ReportItem,
    Resolve,
)

router = APIRouter(prefix="/inventory", tags=["inventory"])
CampaignId = Annotated[int, Path(ge=1, le=MAX_INT)]
Reader = Annotated[Principal, Depends(require("inventory.read"))]
Manager = Annotated[Principal, Depends(require("inventory.manage"))]
Sweeper = Annotated[Principal, Depends(require("inventory.sweep"))]


@router.post("/campaigns", response_model=CampaignPublic, status_code=201)
def create_campaign(
    session: SessionDep, principal: Manager, campaign_in: CampaignCreate
) -> CampaignPublic:
    """Start an inventory of a subtree of locations (its root's code), for a window of days."""
    campaign = service.create_campaign(
        session=session, principal=principal, campaign_in=campaign_in
    )
    return service.to_public(session=session, campaign=campaign)


@router.get("/campaigns", response_model=list[CampaignPublic])
def read_campaigns(session: ReadSessionDep, _: Reader) -> list[CampaignPublic]:
    """Every campaign, open ones first, with its counts per class."""
    return [
        service.to_public(session=session, campaign=c)
        for c in service.list_campaigns(session=session)
    ]


@router.get("/campaigns/{campaign_id}", response_model=CampaignPublic)
def read_campaign(session: ReadSessionDep, _: Reader, campaign_id: CampaignId) -> CampaignPublic:
    campaign = service.get_campaign(session=session, campaign_id=campaign_id)
    return service.to_public(session=session, campaign=campaign)


@router.post(
    "/campaigns/{campaign_id}/reads", response_model=ReadResults, responses=errors(429)
)
async def post_reads(
    writer: WriterDep,
    settings: SettingsDep,
    budget: ReadBudgetDep,
    principal: Sweeper,
    campaign_id: CampaignId,
    batch: ReadBatch,
) -> Response:
    """A sweep's reads (up to 500): location reads set the session's shelf, carrier reads are
    placed on it by read time. Answers each read's class and the counts; a read delivered
    again answers as it did the first time (``replayed``). A station sending more reads than
    its budget: 429 with Retry-After, nothing recorded.

    Stored with the other batches and scans queued at the same moment, and answered after the
    commit of their group (app.core.writer): handhelds sending at once share one durable
    commit instead of waiting for each other's."""
    budget.take(principal, len(batch.reads))
    results = await writer.run(
        lambda session: service.ingest(
            session=session,
            principal=principal,
            campaign_id=campaign_id,
            reads=batch.reads,
            settings=settings,
        )
    )
    # Serialised here, once: returned as a model, FastAPI would dump and validate its 500
    # answers again before writing them (the schema above still documents the answer).
    return Response(results.model_dump_json(by_alias=True), media_type="application/json")


@router.get("/campaigns/{campaign_id}/report", response_model=Report)
def read_report(session: ReadSessionDep, _: Reader, campaign_id: CampaignId) -> Report:
    """Shelf by shelf: swept or not, what was found, misplaced, unexpected, not seen."""
    return service.report(session=session, campaign_id=campaign_id)


@router.get("/campaigns/{campaign_id}/report.csv", response_class=Response)
def read_report_csv(session: ReadSessionDep, _: Reader, campaign_id: CampaignId) -> Response:
    """The report as CSV: one row per carrier, then the unknown and altered tags."""
    text = service.report_csv(service.report(session=session, campaign_id=campaign_id))
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="inventory-{campaign_id}.csv"'},
    )


@router.post("/campaigns/{campaign_id}/resolve", response_model=ReportItem)
def resolve_finding(
    session: SessionDep,
    today: TodayDep,
    principal: Manager,
    campaign_id: CampaignId,
    resolve_in: Resolve,
) -> ReportItem:
    """Settle one carrier's finding: put back, new home, return, receive, found or store,
    each logged as the custody event it is, with the campaign in its payload."""
    return service.resolve(
        session=session,
        principal=principal,
        campaign_id=campaign_id,
        resolve_in=resolve_in,
        today=today,
    )


@router.post("/campaigns/{campaign_id}/close", response_model=CloseSummary)
def close_campaign(
    session: SessionDep, principal: Manager, campaign_id: CampaignId, close_in: Close
) -> CloseSummary:
    """Close the campaign; with ``report_missing``, carriers not seen on the shelves it swept
    are reported missing (one inventory-result event each). Unswept shelves are left alone."""
    return service.close(
        session=session, principal=principal, campaign_id=campaign_id, close_in=close_in
    )
