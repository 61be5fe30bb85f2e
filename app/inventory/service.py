"""Inventory campaigns: reads placed on shelves, reconciled against the record.

(Being written: the signatures below are the contract the pages and the agent use.)
"""

from __future__ import annotations

from sqlmodel import Session

from app.core.principal import Principal
from app.inventory import schemas
from app.inventory.models import Campaign, Sighting


def create_campaign(
    *, session: Session, principal: Principal, campaign_in: schemas.CampaignCreate
) -> Campaign:
    raise NotImplementedError


def get_campaign(*, session: Session, campaign_id: int) -> Campaign:
    raise NotImplementedError


def list_campaigns(*, session: Session) -> list[Campaign]:
    raise NotImplementedError


def to_public(*, session: Session, campaign: Campaign) -> schemas.CampaignPublic:
    raise NotImplementedError


def ingest(
    *, session: Session, principal: Principal, campaign_id: int, reads: list[schemas.InventoryRead]
) -> schemas.ReadResults:
    raise NotImplementedError


def report(*, session: Session, campaign_id: int) -> schemas.Report:
    raise NotImplementedError


def report_csv(report: schemas.Report) -> str:
    raise NotImplementedError


def resolve(
    *, session: Session, principal: Principal, campaign_id: int, resolve_in: schemas.Resolve
) -> schemas.ReportItem:
    raise NotImplementedError


def close(
    *, session: Session, principal: Principal, campaign_id: int, close_in: schemas.Close
) -> schemas.CloseSummary:
    raise NotImplementedError


def campaigns_of(*, session: Session, carrier_id: int) -> list[tuple[Campaign, Sighting]]:
    """The campaigns that saw a carrier, newest first, with its sighting in each."""
    raise NotImplementedError
