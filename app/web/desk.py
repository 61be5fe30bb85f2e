"""The clerk's desk: bound to one station per browser, it shows each tap live (SSE) and offers
the custody actions the carrier's state allows.

A tap travels: station agent -> ``POST /api/v1/scans`` -> the scans service announces the
committed scan (app.core.announce) -> this page's event stream renders the carrier card.
A keyboard-wedge reader or barcode scanner types into the scan field instead; that needs no
agent. Every action is a form (htmx swaps the card in place; without JavaScript it is a plain
POST) and calls the same custody service as the API.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select
from sse_starlette import EventSourceResponse, ServerSentEvent

from app.borrowers import service as borrower_service
from app.carriers import service as carrier_service
from app.carriers.models import Carrier
from app.carriers.schemas import CarrierCreate, CarrierKind
from app.core.announce import hub_for
from app.core.config import Settings
from app.core.db import ReadSessionDep, SessionDep, get_engine, read_only, session_scope
from app.core.deps import SettingsDep, TodayDep
from app.core.errors import InvalidInputError, NotFoundError
from app.core.ids import id_of
from app.core.time import local_today
from app.core.validation import Technology, is_label, looks_like_uid, normalise_uid
from app.custody import schemas as custody_schemas
from app.custody import service as custody_service
from app.custody.transitions import next_actions
from app.locations import service as location_service
from app.lookup import service as lookup_service
from app.lookup.schemas import QueryKind
from app.requests import service as request_service
from app.scans.models import Scan
from app.scans.service import SCAN_CHANNEL
from app.site import service as site_service
from app.stations.models import Station
from app.tags import service as tag_service
from app.tags.schemas import LabelJobState, TagBind
from app.web import i18n
from app.web.forms import valid
from app.web.render import locale_of, render, render_text
from app.web.security import Csrf, WebUser, load_user, page
from app.web.views import carrier_view

router = APIRouter(prefix="/desk", include_in_schema=False)

DESK_COOKIE = "mediatrack_desk"
Clerk = Annotated[WebUser, Depends(page("custody.checkout"))]
Returner = Annotated[WebUser, Depends(page("custody.return"))]
Storer = Annotated[WebUser, Depends(page("custody.store"))]
Tracer = Annotated[WebUser, Depends(page("custody.missing"))]
Transferrer = Annotated[WebUser, Depends(page("custody.transfer"))]
HoldKeeper = Annotated[WebUser, Depends(page("custody.hold"))]
Registrar = Annotated[WebUser, Depends(page("carriers.register"))]

# The moves of the transition table that the desk offers as forms (tagging and retiring are
# done on the carrier page and by an administrator).
DESK_ACTIONS = frozenset(
    {"checkout", "return", "receive", "store", "dispatch", "found", "missing", "hold", "release"}
)
# The desk's forms that pick a place from the list of every location.
PLACE_FORMS = frozenset({"return", "store", "found"})


def _station(session: Session, request: Request) -> Station | None:
    name = request.cookies.get(DESK_COOKIE)
    if not name:
        return None
    station = session.exec(select(Station).where(Station.name == name)).one_or_none()
    return station if station is not None and station.revoked_at is None else None


@router.get("", response_class=HTMLResponse)
def desk(request: Request, session: SessionDep, user: Clerk) -> HTMLResponse:
    station = _station(session, request)
    if station is None:
        stations = session.exec(
            select(Station).where(col(Station.revoked_at).is_(None)).order_by(Station.name)
        ).all()
        return render(request, "desk_choose.html", {"stations": stations}, user=user)
    place = location_service.get(session=session, location_id=station.location_id)
    locations, _ = location_service.list_all(session=session, offset=0, limit=500)
    context = {"station": station, "place": place, "basket": _basket(request),
               "locations": locations}
    return render(request, "desk.html", context, user=user)


@router.post("/station")
def choose_station(
    request: Request,
    session: SessionDep,
    user: Clerk,
    _: Csrf,
    station: Annotated[str, Form(max_length=64)],
) -> Response:
    """Bind this browser to a station (once; a cookie keeps it)."""
    found = session.exec(select(Station).where(Station.name == station)).one_or_none()
    if found is None or found.revoked_at is not None:
        raise NotFoundError(i18n.gettext("There is no such station."))
    response = RedirectResponse("/desk", status_code=303)
    response.set_cookie(
        DESK_COOKIE, found.name, max_age=5 * 365 * 24 * 3600, samesite="strict", httponly=True
    )
    return response


@router.get("/events")
async def desk_events(request: Request, user: Clerk) -> EventSourceResponse:
    """The desk's live stream: one ``scan`` event (the rendered card) per tap at its station.

    The stream ends when the session would go idle (the page then says it is disconnected and
    the next click asks for a log-in) and when the account is disabled or loses the desk."""
    engine = get_engine(request)
    station = await run_in_threadpool(_bound_station, request)
    if station is None:
        raise NotFoundError(i18n.gettext("Choose this desk's station first."))
    hub = hub_for(engine)
    locale = locale_of(request)
    idle = request.app.state.settings.SESSION_IDLE_MINUTES * 60
    deadline = int(request.session.get("seen", 0)) + idle

    async def stream() -> AsyncIterator[ServerSentEvent]:
        sub = hub.subscribe(SCAN_CHANNEL)  # inside: a stream never started leaves nothing
        shown = await run_in_threadpool(_latest_tap, request, station.id)
        try:
            yield ServerSentEvent(event="ready", data="ready")
            while (remaining := deadline - time.time()) > 0:
                try:
                    raw = await asyncio.wait_for(sub.queue.get(), timeout=remaining)
                except TimeoutError:
                    return
                message = json.loads(raw)
                if message.get("resync"):
                    # Taps may have been announced while this process did not listen: show
                    # the station's latest one if it is not the card on screen.
                    latest = await run_in_threadpool(_latest_tap, request, station.id)
                    if latest is None or latest == shown:
                        continue
                    message = {"station_id": station.id, "event_id": latest}
                if message.get("station_id") != station.id:
                    continue
                html = await run_in_threadpool(
                    _render_tap, request, user, locale, str(message["event_id"])
                )
                if html is None:
                    return
                shown = str(message["event_id"])
                yield ServerSentEvent(event="scan", data=html, id=shown)
        finally:
            hub.unsubscribe(sub)

    return EventSourceResponse(stream(), ping=15)


def _bound_station(request: Request) -> Station | None:
    with session_scope(read_only(get_engine(request))) as session:
        return _station(session, request)


def _latest_tap(request: Request, station_id: int | None) -> str | None:
    """The event id of the station's latest tap (its highest sequence number)."""
    with session_scope(read_only(get_engine(request))) as session:
        latest = select(Scan.event_id).where(Scan.station_id == station_id)
        return session.exec(latest.order_by(col(Scan.station_seq).desc()).limit(1)).first()


def _render_tap(request: Request, user: WebUser, locale: str, event_id: str) -> str | None:
    """The card of a tap; None when the desk's user may no longer see it."""
    with i18n.using(locale), session_scope(read_only(get_engine(request))) as session:
        now = load_user(session, user.principal.id)
        if now is None or not now.may("custody.checkout"):
            return None
        scan = session.exec(select(Scan).where(Scan.event_id == event_id)).one_or_none()
        if scan is None:
            return ""
        answer = json.loads(scan.response)
        carrier = answer.get("carrier")
        if carrier:
            found = carrier_service.get_by_label(session=session, label=carrier["label"])
            # Without the dispatch list: the stream's copy of the session is from its start.
            return _card_text(request, session, user, found, clock_wrong=scan.clock_wrong,
                              with_basket=False)
        if answer.get("outcome") == "unregistered_tag":
            uid = normalise_uid(scan.tag_uid, Technology(scan.technology))
            return render_text(request, "fragments/register.html",
                               _register_context(session, uid, scan.technology, tapped=True),
                               user=user)
        return render_text(
            request, "fragments/flash.html", {"message": answer.get("message", ""), "kind": "info"}
        )


def _basket(request: Request) -> list[str]:
    basket = request.session.get("basket", [])
    return [x for x in basket if isinstance(x, str)] if isinstance(basket, list) else []


def _card(
    request: Request, session: Session, user: WebUser, carrier: Carrier, *, flash: str | None = None
) -> HTMLResponse:
    return HTMLResponse(_card_text(request, session, user, carrier, flash=flash))


def _card_text(
    request: Request,
    session: Session,
    user: WebUser,
    carrier: Carrier,
    *,
    flash: str | None = None,
    clock_wrong: bool = False,
    with_basket: bool = True,
    label_job: LabelJobState | None = None,
) -> str:
    settings = request.app.state.settings
    site = site_service.current(session=session, settings=settings)
    view = carrier_view(
        session, carrier_service.snapshot(session=session, carrier=carrier), settings.zone
    )
    allowed = next_actions(carrier.status, legal_hold=carrier.legal_hold)
    actions = [a for a in allowed if a in DESK_ACTIONS]
    # Every place and borrower, but only for a card whose forms offer them: a tap's card is
    # rendered for each scan, and most states need one list or neither.
    locations = (
        location_service.list_all(session=session, offset=0, limit=500)[0]
        if PLACE_FORMS.intersection(actions)
        else []
    )
    borrowers = (
        borrower_service.list_all(session=session, offset=0, limit=500)[0]
        if "checkout" in actions
        else []
    )
    context = {
        "card": view,
        "actions": actions,
        "flash": flash,
        "clock_wrong": clock_wrong,
        "may_hold": user.may("custody.hold"),
        "locations": locations,
        "borrowers": [b for b in borrowers if b.active],
        "purposes": site.purposes,
        "approval_purposes": site.approval_purposes,
        "default_due": local_today(settings.zone) + timedelta(days=settings.DEFAULT_LOAN_DAYS),
        "basket": _basket(request),
        "with_basket": with_basket,
        "requested": request_service.waiting_for(session=session, carrier=carrier),
        "label_job": label_job,
    }
    return render_text(request, "fragments/card.html", context, user=user)


def _register_context(
    session: Session, uid: str, technology: str, *, tapped: bool = False
) -> dict[str, Any]:
    """The form for an unknown tag; a tag tapped on the station (not typed) is then labelled
    by that station."""
    locations, _ = location_service.list_all(session=session, offset=0, limit=500)
    return {"uid": uid, "technology": technology, "kinds": list(CarrierKind),
            "locations": locations, "tapped": tapped}


def _looked_up(session: Session, settings: Settings, user: WebUser, carrier: Carrier) -> Carrier:
    """A card shows patient IDs: outside a station's tap (which logs "seen") it is logged as a
    lookup by label, as the carrier page is."""
    lookup_service.where(session=session, principal=user.principal, query=carrier.label,
                         kind=QueryKind.LABEL, secret=settings.secret_key,
                         today=local_today(settings.zone))
    return carrier


@router.post("/scan", response_class=HTMLResponse)
def typed_scan(
    request: Request, session: SessionDep, settings: SettingsDep, user: Clerk, _: Csrf,
    code: Annotated[str, Form(max_length=64)],
) -> HTMLResponse:
    """What a keyboard-wedge reader or a barcode scanner typed: a label or a tag UID."""
    text = code.strip()
    if is_label(text.upper()):
        found = carrier_service.get_by_label(session=session, label=text.upper())
        return _card(request, session, user, _looked_up(session, settings, user, found))
    if looks_like_uid(text):
        uid = normalise_uid(text)
        tagged = tag_service.carrier_of(session=session, uid=uid)
        if tagged is not None:
            return _card(request, session, user, _looked_up(session, settings, user, tagged))
        # A wedge types the UID alone; 8 bytes is an ISO 15693 (hub) tag, else ISO 14443 A.
        technology = Technology.ISO15693 if len(uid) == 16 else Technology.ISO14443A
        context = _register_context(session, uid, technology.value)
        return render(request, "fragments/register.html", context, user=user)
    raise InvalidInputError(
        i18n.gettext("That is neither a carrier label nor a tag UID. Scan or type it again.")
    )


@router.get("/carriers/{label}", response_class=HTMLResponse)
def card(
    request: Request, session: SessionDep, settings: SettingsDep, user: Clerk, label: str
) -> HTMLResponse:
    found = carrier_service.get_by_label(session=session, label=label)
    return _card(request, session, user, _looked_up(session, settings, user, found))


@router.post("/carriers/{label}/checkout", response_class=HTMLResponse)
def check_out(
    request: Request, session: SessionDep, settings: SettingsDep, today: TodayDep, user: Clerk,
    _: Csrf, label: str,
    borrower: Annotated[str, Form(max_length=200)],
    purpose: Annotated[str, Form(max_length=16)],
    due_on: Annotated[str, Form(max_length=10)] = "",
    approver: Annotated[str, Form(max_length=64)] = "",
) -> HTMLResponse:
    who = _borrower_id(session, borrower)
    checkout_in = valid(custody_schemas.CheckOut, borrower_id=who, purpose=purpose,
                         due_on=due_on, approver=approver)
    carrier = custody_service.check_out(session=session, principal=user.principal, label=label,
                                        checkout_in=checkout_in, settings=settings, today=today)
    return _card(request, session, user, carrier, flash=i18n.gettext("Lent out."))


def _borrower_id(session: Session, typed: str) -> int:
    """The borrower picked by typing: the list offers "Name (Department) #id"."""
    text = typed.strip()
    if "#" in text and text.rsplit("#", 1)[1].isdigit():
        return int(text.rsplit("#", 1)[1])
    borrowers, _ = borrower_service.list_all(session=session, offset=0, limit=500)
    matches = [b for b in borrowers if b.active and b.name.casefold() == text.casefold()]
    if len(matches) != 1 or matches[0].id is None:
        raise InvalidInputError(i18n.gettext("Pick the borrower from the list as you type."))
    return matches[0].id


@router.post("/carriers/{label}/return", response_class=HTMLResponse)
def return_carrier(
    request: Request, session: SessionDep, today: TodayDep, user: Returner, _: Csrf, label: str,
    location: Annotated[str, Form(max_length=32)] = "",
) -> HTMLResponse:
    carrier = carrier_service.get_by_label(session=session, label=label)
    code = location or location_service.get(
        session=session, location_id=carrier.home_location_id
    ).code
    carrier = custody_service.return_carrier(
        session=session, principal=user.principal, label=label,
        return_in=valid(custody_schemas.Return, location=code), today=today,
    )
    return _card(request, session, user, carrier, flash=i18n.gettext("Taken back."))


@router.post("/carriers/{label}/store", response_class=HTMLResponse)
def store(
    request: Request, session: SessionDep, today: TodayDep, user: Storer, _: Csrf, label: str,
    location: Annotated[str, Form(max_length=32)],
) -> HTMLResponse:
    carrier = custody_service.store(session=session, principal=user.principal, label=label,
                                    store_in=valid(custody_schemas.Store, location=location),
                                    today=today)
    return _card(request, session, user, carrier, flash=i18n.gettext("Put in storage."))


@router.post("/carriers/{label}/missing", response_class=HTMLResponse)
def report_missing(
    request: Request, session: SessionDep, today: TodayDep, user: Tracer, _: Csrf, label: str,
    note: Annotated[str, Form(max_length=500)] = "",
) -> HTMLResponse:
    carrier = custody_service.report_missing(
        session=session, principal=user.principal, label=label,
        missing_in=valid(custody_schemas.Missing, note=note), today=today,
    )
    return _card(request, session, user, carrier, flash=i18n.gettext("Reported missing."))


@router.post("/carriers/{label}/found", response_class=HTMLResponse)
def report_found(
    request: Request, session: SessionDep, today: TodayDep, user: Tracer, _: Csrf, label: str,
    location: Annotated[str, Form(max_length=32)],
    note: Annotated[str, Form(max_length=500)] = "",
) -> HTMLResponse:
    carrier = custody_service.report_found(
        session=session, principal=user.principal, label=label,
        found_in=valid(custody_schemas.Found, location=location, note=note), today=today,
    )
    return _card(request, session, user, carrier, flash=i18n.gettext("Recorded as found."))


@router.post("/carriers/{label}/hold", response_class=HTMLResponse)
def hold(
    request: Request, session: SessionDep, today: TodayDep, user: HoldKeeper, _: Csrf,
    label: str,
    reason: Annotated[str, Form(max_length=500)],
    release: Annotated[bool, Form()] = False,
) -> HTMLResponse:
    checked = valid(custody_schemas.Hold, reason=reason)
    carrier = custody_service.set_hold(session=session, principal=user.principal, label=label,
                                       reason=checked.reason, hold=not release, today=today)
    flash = i18n.gettext("Released from legal hold.") if release else i18n.gettext(
        "Put under legal hold."
    )
    return _card(request, session, user, carrier, flash=flash)


@router.post("/carriers/{label}/receive", response_class=HTMLResponse)
def receive(
    request: Request, session: SessionDep, today: TodayDep, user: Transferrer, _: Csrf,
    label: str,
) -> HTMLResponse:
    carrier = carrier_service.get_by_label(session=session, label=label)
    snap = carrier_service.snapshot(session=session, carrier=carrier)
    if snap.transfer is None or snap.transfer.id is None:
        raise InvalidInputError(i18n.gettext("This carrier is not in transit."))
    custody_service.receive(session=session, principal=user.principal,
                            transfer_id=snap.transfer.id,
                            receive_in=custody_schemas.Receive(labels=[label]), today=today)
    return _card(request, session, user, carrier, flash=i18n.gettext("Received."))


@router.post("/carriers/{label}/dispatch", response_class=HTMLResponse)
def add_to_dispatch(
    request: Request, session: SessionDep, user: Transferrer, _: Csrf, label: str
) -> HTMLResponse:
    """Collect carriers for one dispatch by tapping them one after another."""
    carrier = carrier_service.get_by_label(session=session, label=label)
    basket = _basket(request)
    if carrier.label not in basket:
        basket.append(carrier.label)
    request.session["basket"] = basket
    return _card(request, session, user, carrier,
                 flash=i18n.gettext("Added to the dispatch (%(n)s carriers).", n=len(basket)))


@router.post("/dispatch", response_class=HTMLResponse)
def dispatch(
    request: Request, session: SessionDep, today: TodayDep, user: Transferrer, _: Csrf,
    to_location: Annotated[str, Form(max_length=32)],
    seal_number: Annotated[str, Form(max_length=32)] = "",
    expected_on: Annotated[str, Form(max_length=10)] = "",
    clear: Annotated[bool, Form()] = False,
) -> HTMLResponse:
    basket = _basket(request)
    if clear:
        request.session["basket"] = []
        return render(request, "fragments/flash.html",
                      {"message": i18n.gettext("The dispatch list is empty."), "kind": "info"})
    if not basket:
        raise InvalidInputError(i18n.gettext("Tap the carriers to dispatch first."))
    dispatch_in = valid(custody_schemas.Dispatch, labels=basket, to_location=to_location,
                         seal_number=seal_number, expected_on=expected_on)
    transfer = custody_service.dispatch(session=session, principal=user.principal,
                                        dispatch_in=dispatch_in, today=today)
    request.session["basket"] = []
    message = i18n.gettext(
        "Dispatched %(n)s carriers (transfer %(id)s).", n=len(basket), id=transfer.id
    )
    return render(request, "fragments/dispatched.html",
                  {"message": message, "kind": "ok", "basket": [], "locations": []})


@router.post("/register", response_class=HTMLResponse)
def register(
    request: Request, session: SessionDep, settings: SettingsDep, user: Registrar, _: Csrf,
    uid: Annotated[str, Form(max_length=64)],
    technology: Annotated[str, Form(max_length=16)],
    label: Annotated[str, Form(max_length=16)],
    kind: Annotated[str, Form(max_length=16)],
    location: Annotated[str, Form(max_length=32)],
    set_number: Annotated[str, Form(max_length=3)] = "",
    set_total: Annotated[str, Form(max_length=3)] = "",
    set_key: Annotated[str, Form(max_length=16)] = "",
    tapped: Annotated[bool, Form()] = False,
) -> HTMLResponse:
    """Register the carrier of an unknown tag and bind the tag to it, in one transaction; a
    tag tapped on this desk's station is then labelled by the station."""
    carrier_in = valid(CarrierCreate, label=label.upper(), kind=kind, home_location=location,
                        set_number=set_number, set_total=set_total, set_key=set_key.upper())
    carrier = carrier_service.register(session=session, principal=user.principal,
                                       carrier_in=carrier_in)
    carrier = tag_service.bind(session=session, principal=user.principal, label=carrier.label,
                               bind_in=valid(TagBind, tag_uid=uid, technology=technology))
    flash, job = i18n.gettext("Registered."), None
    station = _station(session, request) if tapped else None
    if station is not None:
        job, flash = _ask_to_label(session, settings, station, carrier)
    return HTMLResponse(_card_text(request, session, user, carrier, flash=flash, label_job=job))


def _ask_to_label(
    session: Session, settings: Settings, station: Station, carrier: Carrier
) -> tuple[LabelJobState | None, str]:
    """Ask the desk's station to write the label; without a site key, say why it cannot."""
    if not tag_service.may_write_labels(settings.site_keys_file):
        return None, i18n.gettext(
            "Registered. The tag was not labelled: this service has no site key to sign "
            "labels with (MEDIATRACK_SITE_KEYS_FILE); label it with \"mediatrack label\"."
        )
    job = tag_service.ask_to_label(session=session, station_id=id_of(station), carrier=carrier)
    return tag_service.label_job(session=session, job_id=id_of(job)), i18n.gettext("Registered.")


@router.post("/carriers/{label}/label", response_class=HTMLResponse)
def label_again(
    request: Request, session: SessionDep, settings: SettingsDep, user: Registrar, _: Csrf,
    label: str,
) -> HTMLResponse:
    """Ask the desk's station to write the carrier's label again (after a failed write)."""
    station = _station(session, request)
    if station is None:
        raise NotFoundError(i18n.gettext("Choose this desk's station first."))
    carrier = carrier_service.get_by_label(session=session, label=label.upper())
    job, flash = _ask_to_label(session, settings, station, carrier)
    if job is None:
        return render(request, "fragments/flash.html", {"message": flash, "kind": "error"},
                      user=user)
    return render(request, "fragments/label_job.html", {"job": job}, user=user)


@router.get("/label-jobs/{job_id}", response_class=HTMLResponse)
def label_job(
    request: Request, session: ReadSessionDep, user: Registrar, job_id: int
) -> HTMLResponse:
    """Whether the station has written the label yet (the card asks every second until so)."""
    job = tag_service.label_job(session=session, job_id=job_id)
    return render(request, "fragments/label_job.html", {"job": job}, user=user)
