"""Requests: a clinician asks for a study's carrier (``/requests``); clerks fetch the carriers
asked for from a printable pull list grouped by shelf and lend each to whoever asked
(``/requests/pull``). Same service and permissions as ``/api/v1/requests``."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import Session

from app.carriers.models import Carrier
from app.core.db import SessionDep
from app.core.deps import SettingsDep
from app.core.errors import N_
from app.core.time import local_today, utcnow
from app.requests import service as request_service
from app.requests.schemas import Fulfil, RequestCreate
from app.site import service as site_service
from app.web import flash, i18n
from app.web.forms import valid
from app.web.render import render
from app.web.security import Csrf, WebUser, page

router = APIRouter(prefix="/requests", include_in_schema=False)

Requester = Annotated[WebUser, Depends(page("requests.create"))]
Fulfiller = Annotated[WebUser, Depends(page("requests.fulfil"))]

STATE_NAMES = {
    "open": N_("waiting to be fetched"),
    "queued": N_("queued: the carrier is out"),
    "fulfilled": N_("lent to you"),
    "cancelled": N_("cancelled"),
}


@router.get("", response_class=HTMLResponse)
def mine(
    request: Request, session: SessionDep, settings: SettingsDep, user: Requester,
    carrier: Annotated[str, Query(max_length=64)] = "",
) -> HTMLResponse:
    """The reader's own requests, and the form to ask for a carrier."""
    rows = request_service.list_mine(session=session, user_id=user.principal.user_id or 0)
    site = site_service.current(session=session, settings=settings)
    pull = request_service.pull_list(session=session) if user.may("requests.fulfil") else []
    context = {
        "requests": [request_service.to_public(session=session, request=r) for r in rows],
        "states": STATE_NAMES,
        "purposes": site.purposes,
        "carrier": carrier,
        "tomorrow": local_today(settings.zone) + timedelta(days=1),
        "may_fulfil": user.may("requests.fulfil"),
        "waiting": sum(len(g.lines) for g in pull),
        "flash": flash.take(request),
    }
    return render(request, "requests/mine.html", context, user=user)


@router.post("")
def ask(
    request: Request, session: SessionDep, settings: SettingsDep, user: Requester, _: Csrf,
    carrier: Annotated[str, Form(max_length=64)],
    purpose: Annotated[str, Form(max_length=16)],
    needed_on: Annotated[str, Form(max_length=10)],
    note: Annotated[str, Form(max_length=500)] = "",
) -> RedirectResponse:
    request_in = valid(RequestCreate, carrier=carrier, purpose=purpose, needed_on=needed_on,
                        note=note)
    made = request_service.create(session=session, principal=user.principal,
                                  request_in=request_in, settings=settings)
    label = _label(session, made.carrier_id)
    return flash.redirect(request, "/requests", i18n.gettext(
        "Your request for %(label)s is recorded.", label=label))


@router.post("/{request_id}/cancel")
def cancel(
    request: Request, session: SessionDep, user: Requester, _: Csrf, request_id: int
) -> RedirectResponse:
    request_service.cancel(session=session, principal=user.principal, request_id=request_id)
    return flash.redirect(request, "/requests", i18n.gettext(
        "Request %(id)s is cancelled.", id=request_id))


@router.get("/pull", response_class=HTMLResponse)
def pull_list(
    request: Request, session: SessionDep, settings: SettingsDep, user: Fulfiller
) -> HTMLResponse:
    """What to fetch, shelf by shelf (printable)."""
    site = site_service.current(session=session, settings=settings)
    context = {
        "groups": request_service.pull_list(session=session),
        "approval_purposes": site.approval_purposes,
        "now": utcnow(),
        "flash": flash.take(request),
    }
    return render(request, "requests/pull.html", context, user=user)


@router.post("/{request_id}/fulfil")
def fulfil(
    request: Request, session: SessionDep, settings: SettingsDep, user: Fulfiller, _: Csrf,
    request_id: int,
    due_on: Annotated[str, Form(max_length=10)] = "",
    approver: Annotated[str, Form(max_length=64)] = "",
) -> RedirectResponse:
    """Lend the carrier to whoever asked for it."""
    done = request_service.fulfil(
        session=session, principal=user.principal, request_id=request_id,
        fulfil_in=valid(Fulfil, due_on=due_on, approver=approver), settings=settings,
    )
    public = request_service.to_public(session=session, request=done)
    return flash.redirect(request, "/requests/pull", i18n.gettext(
        "%(label)s is lent to %(name)s.", label=public.label, name=public.requester_name))


def _label(session: Session, carrier_id: int) -> str:
    carrier = session.get(Carrier, carrier_id)
    return carrier.label if carrier else "?"
