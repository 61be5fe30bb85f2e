"""Inventory campaigns on the web: the campaigns and the form that starts one (``/inventory``),
a campaign's page with its shelf map, counts and per-shelf detail (``/inventory/{id}``), the
resolutions and the close, and the reports (a printable sheet, CSV and JSON).

Same service and permissions as ``/api/v1/inventory``; the phone page that sweeps shelves is
``app/web/phone.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from app.core.db import SessionDep
from app.core.deps import TodayDep
from app.core.errors import N_, AppError, NotFoundError
from app.core.ids import id_of
from app.core.time import local_today, utcnow
from app.core.validation import MAX_INT
from app.inventory import service as inventory_service
from app.inventory.models import Campaign
from app.inventory.schemas import (
    CARRIER_CLASSES,
    CampaignCreate,
    Close,
    ReadClass,
    Report,
    ReportItem,
    Resolve,
    ResolveAction,
    ShelfReport,
    ShelfState,
)
from app.locations import service as location_service
from app.locations.models import Location
from app.locations.schemas import LocationKind
from app.locations.service import PATH_SEPARATOR
from app.web import flash, i18n
from app.web.forms import valid
from app.web.render import render
from app.web.security import Csrf, WebUser, page
from app.web.views import status_name

router = APIRouter(prefix="/inventory", include_in_schema=False)

Reader = Annotated[WebUser, Depends(page("inventory.read"))]
# A number past PostgreSQL's INTEGER is no campaign (404 by validation), not a failed query.
CampaignId = Annotated[int, Path(ge=1, le=MAX_INT)]
Manager = Annotated[WebUser, Depends(page("inventory.manage"))]

# A new campaign's window unless the form says otherwise: from today, for two weeks.
DEFAULT_DAYS = 14
# Places a campaign cannot sweep: they hold carriers only on their way somewhere.
NOT_A_SCOPE = (LocationKind.DESK.value, LocationKind.COURIER.value)

CLASS_NAMES = {
    ReadClass.FOUND: N_("found in place"),
    ReadClass.MISPLACED: N_("misplaced"),
    ReadClass.UNEXPECTED: N_("unexpected"),
    ReadClass.UNKNOWN: N_("unknown tag"),
    ReadClass.NOT_SEEN: N_("not seen"),
}
STATE_NAMES = {
    ShelfState.SWEPT: N_("swept"),
    ShelfState.IN_PROGRESS: N_("in progress"),
    ShelfState.NOT_SWEPT: N_("not yet swept"),
}
# The buttons that settle an item, and (once done) what was done.
ACTION_NAMES = {
    ResolveAction.PUT_BACK: N_("Put it back"),
    ResolveAction.NEW_HOME: N_("This is its new home"),
    ResolveAction.RETURN: N_("Take it back from loan"),
    ResolveAction.RECEIVE: N_("Receive it here"),
    ResolveAction.FOUND: N_("Report it found"),
    ResolveAction.STORE: N_("Store it here"),
}
RESOLUTION_NAMES = {
    ResolveAction.PUT_BACK: N_("put back on its shelf"),
    ResolveAction.NEW_HOME: N_("this shelf is its new home"),
    ResolveAction.RETURN: N_("taken back from loan"),
    ResolveAction.RECEIVE: N_("received"),
    ResolveAction.FOUND: N_("reported found"),
    ResolveAction.STORE: N_("put in storage"),
}


@dataclass
class ShelfGroup:
    """The shelves of one cabinet (or room): one block of the map."""

    title: str
    shelves: list[ShelfReport] = field(default_factory=list)


@dataclass
class SightingLine:
    """One campaign that saw a carrier, for the carrier's page."""

    campaign_id: CampaignId
    campaign: str
    read_at: datetime
    shelf: str
    read_class: str


def shelf_map(report: Report) -> list[ShelfGroup]:
    """The scope's shelves grouped by the place that holds them (a cabinet, else a room), in
    path order; titles are paths below the scope, so the map does not repeat the scope."""
    scope = report.campaign.scope_path
    groups: dict[str, ShelfGroup] = {}
    for shelf in sorted(report.shelves, key=lambda s: s.path):
        holder = shelf.path.rpartition(PATH_SEPARATOR)[0] or shelf.path
        # Below the scope, the path from it; the scope itself (a cabinet swept alone): its name.
        title = (holder.removeprefix(scope).removeprefix(PATH_SEPARATOR)
                 or holder.rpartition(PATH_SEPARATOR)[2])
        groups.setdefault(holder, ShelfGroup(title)).shelves.append(shelf)
    return list(groups.values())


def shelf_name(shelf: ShelfReport) -> str:
    return shelf.path.rpartition(PATH_SEPARATOR)[2]


def sightings(session: Session, carrier_id: int) -> list[SightingLine]:
    """The campaigns that saw a carrier, newest first, with the shelf and class of each."""
    return [
        SightingLine(
            campaign_id=id_of(campaign),
            campaign=campaign.name,
            read_at=sighting.read_at,
            shelf=shelf,
            read_class=sighting.read_class,
        )
        for campaign, sighting, shelf in inventory_service.campaigns_of(
            session=session, carrier_id=carrier_id
        )
    ]


def _scopes(session: Session) -> list[Location]:
    places, _ = location_service.list_all(session=session, offset=0, limit=5000)
    return [p for p in places if p.kind not in NOT_A_SCOPE]


def _list_page(
    request: Request, session: SessionDep, user: WebUser, *, form: dict[str, str] | None = None,
    error: str | None = None, status_code: int = 200,
) -> HTMLResponse:
    today = local_today(request.app.state.settings.zone)
    campaigns = [
        inventory_service.to_public(session=session, campaign=c)
        for c in inventory_service.list_campaigns(session=session)
    ]
    context = {
        "campaigns": campaigns,
        "classes": CARRIER_CLASSES,
        "class_names": CLASS_NAMES,
        "scopes": _scopes(session) if user.may("inventory.manage") else [],
        "form": form or {"name": "", "scope": "", "starts_on": today.isoformat(),
                         "ends_on": (today + timedelta(days=DEFAULT_DAYS)).isoformat()},
        "error": error,
        "flash": flash.take(request),
    }
    return render(request, "inventory/campaigns.html", context, user=user,
                  status_code=status_code)


@router.get("", response_class=HTMLResponse)
def campaigns(request: Request, session: SessionDep, user: Reader) -> HTMLResponse:
    """Every campaign, open ones first as the service lists them, and the form to start one."""
    return _list_page(request, session, user)


@router.post("", response_class=HTMLResponse)
def start_campaign(
    request: Request, session: SessionDep, user: Manager, _: Csrf,
    name: Annotated[str, Form(max_length=120)],
    scope: Annotated[str, Form(max_length=32)],
    starts_on: Annotated[str, Form(max_length=10)],
    ends_on: Annotated[str, Form(max_length=10)],
) -> Response:
    form = {"name": name, "scope": scope, "starts_on": starts_on, "ends_on": ends_on}
    try:
        campaign_in = valid(CampaignCreate, name=name.strip(), scope=scope,
                            starts_on=starts_on, ends_on=ends_on)
        campaign = inventory_service.create_campaign(
            session=session, principal=user.principal, campaign_in=campaign_in
        )
    except AppError as exc:
        # The form again, as filled in, with the service's sentence; nothing is kept.
        session.rollback()
        return _list_page(request, session, user, form=form, error=i18n.error_message(exc),
                          status_code=exc.status_code)
    return flash.redirect(request, f"/inventory/{campaign.id}", i18n.gettext(
        "The campaign %(name)s is started.", name=campaign.name))


def _campaign_context(session: Session, campaign: Campaign) -> dict[str, Any]:
    report = inventory_service.report(session=session, campaign_id=id_of(campaign))
    return {
        "campaign": report.campaign,
        "report": report,
        "groups": shelf_map(report),
        "classes": CARRIER_CLASSES,
        "class_names": CLASS_NAMES,
        "states": STATE_NAMES,
        "shelf_name": shelf_name,
    }


@router.get("/{campaign_id}", response_class=HTMLResponse)
def campaign_page(
    request: Request, session: SessionDep, user: Reader, campaign_id: CampaignId,
    shelf: Annotated[str, Query(max_length=32)] = "",
) -> HTMLResponse:
    """The campaign: map, counts, the chosen shelf's items, unknown tags, altered labels."""
    campaign = inventory_service.get_campaign(session=session, campaign_id=campaign_id)
    context = _campaign_context(session, campaign)
    context.update(_shelf_context(context["report"], shelf) if shelf else {"shelf": None})
    context["flash"] = flash.take(request)
    return render(request, "inventory/campaign.html", context, user=user)


@router.get("/{campaign_id}/progress", response_class=HTMLResponse)
def progress(
    request: Request, session: SessionDep, user: Reader, campaign_id: CampaignId
) -> HTMLResponse:
    """The counts and the map again (htmx polls it while people sweep)."""
    campaign = inventory_service.get_campaign(session=session, campaign_id=campaign_id)
    return render(request, "inventory/_progress.html", _campaign_context(session, campaign),
                  user=user)


def _shelf_context(report: Report, code: str) -> dict[str, Any]:
    shelf = next((s for s in report.shelves if s.code == code), None)
    if shelf is None:
        raise NotFoundError(i18n.gettext("This shelf is not in the campaign's scope."))
    return {"shelf": shelf, "campaign": report.campaign, **_item_names()}


def _item_names() -> dict[str, Any]:
    return {"class_names": CLASS_NAMES, "states": STATE_NAMES, "actions": ACTION_NAMES,
            "resolutions": RESOLUTION_NAMES, "shelf_name": shelf_name,
            "status_name": status_name}


@router.get("/{campaign_id}/shelves/{code}", response_class=HTMLResponse)
def shelf_detail(
    request: Request, session: SessionDep, user: Reader, campaign_id: CampaignId, code: str
) -> HTMLResponse:
    """One shelf's items (htmx swaps it in below the map)."""
    report = inventory_service.report(session=session, campaign_id=campaign_id)
    return render(request, "inventory/_shelf.html", _shelf_context(report, code), user=user)


@router.post("/{campaign_id}/resolve", response_class=HTMLResponse)
def resolve(
    request: Request, session: SessionDep, today: TodayDep, user: Manager, _: Csrf,
    campaign_id: CampaignId,
    label: Annotated[str, Form(max_length=16)],
    action: Annotated[str, Form(max_length=16)],
) -> Response:
    """Settle one item (a custody event); htmx gets the item's row back."""
    error = None
    try:
        item = inventory_service.resolve(
            session=session, principal=user.principal, campaign_id=campaign_id,
            resolve_in=valid(Resolve, label=label.upper(), action=action), today=today,
        )
    except AppError as exc:
        if not request.headers.get("HX-Request"):
            raise
        # The row as it stands, with the reason it was not settled.
        session.rollback()
        error = i18n.error_message(exc)
        item = _item(session, campaign_id, label.upper())
    if not request.headers.get("HX-Request"):
        return flash.redirect(request, f"/inventory/{campaign_id}", i18n.gettext(
            "%(label)s: %(done)s.", label=item.label,
            done=i18n.gettext(RESOLUTION_NAMES[ResolveAction(action)])))
    context = {"item": item, "campaign_id": campaign_id, "error": error, "open": True,
               **_item_names()}
    return render(request, "inventory/_item.html", context, user=user)


def _item(session: Session, campaign_id: int, label: str) -> ReportItem:
    report = inventory_service.report(session=session, campaign_id=campaign_id)
    for shelf in report.shelves:
        for item in shelf.items:
            if item.label == label:
                return item
    raise NotFoundError(i18n.gettext("%(label)s is not in this campaign.", label=label))


@router.post("/{campaign_id}/close")
def close(
    request: Request, session: SessionDep, user: Manager, _: Csrf, campaign_id: CampaignId,
    report_missing: Annotated[bool, Form()] = False,
) -> RedirectResponse:
    summary = inventory_service.close(
        session=session, principal=user.principal, campaign_id=campaign_id,
        close_in=Close(report_missing=report_missing),
    )
    message = i18n.ngettext(
        "The campaign is closed; it changed the state of %(num)d carrier.",
        "The campaign is closed; it changed the state of %(num)d carriers.", summary.changed,
    )
    if summary.reported_missing:
        message += " " + i18n.gettext(
            "Reported missing: %(labels)s.", labels=", ".join(summary.reported_missing)
        )
    return flash.redirect(request, f"/inventory/{campaign_id}", message)


@router.get("/{campaign_id}/report", response_class=HTMLResponse)
def report_sheet(
    request: Request, session: SessionDep, user: Reader, campaign_id: CampaignId
) -> HTMLResponse:
    """The whole report, shelf by shelf, to print on A4."""
    context = {
        "report": inventory_service.report(session=session, campaign_id=campaign_id),
        "classes": CARRIER_CLASSES,
        "now": utcnow(),
        **_item_names(),
    }
    return render(request, "inventory/report.html", context, user=user)


def _download(body: str, media_type: str, filename: str) -> Response:
    return Response(body, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# The files are named with the site's day (``today``), as the sheet shows its times.
@router.get("/{campaign_id}/report.csv")
def report_csv(
    session: SessionDep, today: TodayDep, user: Reader, campaign_id: CampaignId
) -> Response:
    report = inventory_service.report(session=session, campaign_id=campaign_id)
    return _download(inventory_service.report_csv(report), "text/csv; charset=utf-8",
                     f"inventory-{campaign_id}-{today.isoformat()}.csv")


@router.get("/{campaign_id}/report.json")
def report_json(
    session: SessionDep, today: TodayDep, user: Reader, campaign_id: CampaignId
) -> Response:
    """The Report as the API gives it (``class``, not ``read_class``)."""
    report = inventory_service.report(session=session, campaign_id=campaign_id)
    return _download(report.model_dump_json(by_alias=True), "application/json",
                     f"inventory-{campaign_id}-{today.isoformat()}.json")
