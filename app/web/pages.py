"""Log-in, language, the start page, "where is it?", the carrier page and a place's page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from app.carriers import service as carrier_service
from app.core.config import Settings
from app.core.db import SessionDep
from app.core.deps import SettingsDep
from app.core.errors import TooManyRequestsError, UnauthorizedError
from app.core.ids import id_of
from app.core.time import local_today
from app.inventory import service as inventory_service
from app.locations import service as location_service
from app.lookup import service as lookup_service
from app.lookup.schemas import QueryKind
from app.tags import service as tag_service
from app.users import service as user_service
from app.web import i18n
from app.web.inventory import CLASS_NAMES, sightings
from app.web.render import render
from app.web.security import Csrf, WebUser, current_user, log_in, log_out, page
from app.web.views import carrier_view, status_name, where_words

router = APIRouter(include_in_schema=False)

Looker = Annotated[WebUser, Depends(page("lookup"))]
PlaceReader = Annotated[WebUser, Depends(page("locations.read"))]
# Carriers listed on a place's page; the rest are counted (a vault room holds thousands).
PLACE_LIST = 200
Tagger = Annotated[WebUser, Depends(page("tags.bind"))]


def _safe_next(target: str | None) -> str:
    """Only a path of this site (never //host or a full URL: no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    user = current_user(request)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    if user.may("custody.checkout"):
        return RedirectResponse("/desk", status_code=303)
    return RedirectResponse("/where", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(
    request: Request,
    expired: Annotated[bool, Query()] = False,
    next_: Annotated[str | None, Query(alias="next", max_length=200)] = None,
) -> HTMLResponse:
    context = {"expired": expired, "next": _safe_next(next_), "error": None}
    return render(request, "login.html", context)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    session: SessionDep,
    _: Csrf,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    next_: Annotated[str, Form(alias="next", max_length=200)] = "/",
) -> Response:
    try:
        user = user_service.authenticate(session=session, username=username, password=password)
    except TooManyRequestsError:
        error = i18n.gettext("Too many failed log-ins for this account; try again in 15 minutes.")
        return render(
            request,
            "login.html",
            {"error": error, "next": next_, "expired": False},
            status_code=429,
        )
    except UnauthorizedError:
        error = i18n.gettext("Wrong user name or password.")
        return render(
            request,
            "login.html",
            {"error": error, "next": next_, "expired": False},
            status_code=401,
        )
    log_in(request, user)
    return RedirectResponse(_safe_next(next_), status_code=303)


@router.post("/logout")
def logout(request: Request, _: Csrf) -> Response:
    log_out(request)
    return RedirectResponse("/login", status_code=303)


@router.get("/lang/{locale}")
def choose_language(
    request: Request, locale: str, next_: Annotated[str | None, Query(alias="next")] = None
) -> Response:
    """Switch the pages' language (kept in a cookie for a year)."""
    response = RedirectResponse(_safe_next(next_), status_code=303)
    if locale in i18n.LOCALES:
        response.set_cookie(
            i18n.LANG_COOKIE, locale, max_age=365 * 24 * 3600, samesite="strict", httponly=True
        )
    return response


@router.get("/where", response_class=HTMLResponse)
def where(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: Looker,
    q: Annotated[str, Query(max_length=128)] = "",
    kind: QueryKind = QueryKind.AUTO,
    issuer: Annotated[str, Query(max_length=64)] = "",
) -> HTMLResponse:
    """The search box; with ``q``, its answer (for links that carry a label or a tag, such
    as a shelf label's QR code: the page's own form posts, see below)."""
    return _where_page(request, session, settings, user, q, kind, issuer)


@router.post("/where", response_class=HTMLResponse)
def where_posted(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: Looker,
    _: Csrf,
    q: Annotated[str, Form(max_length=128)] = "",
    kind: Annotated[QueryKind, Form()] = QueryKind.AUTO,
    issuer: Annotated[str, Form(max_length=64)] = "",
) -> HTMLResponse:
    """The form's search: posted, so a patient ID typed at a shared desk PC stays out of the
    address bar, the browser's history and any proxy's log."""
    return _where_page(request, session, settings, user, q, kind, issuer)


def _where_page(
    request: Request,
    session: Session,
    settings: Settings,
    user: WebUser,
    q: str,
    kind: QueryKind,
    issuer: str,
) -> HTMLResponse:
    """One box for patient ID, accession, study UID, label or tag UID (a patient ID known
    under several issuers asks which). Logged as the API's lookup is (the query only as a
    keyed digest)."""
    hits = []
    issuers: list[str] = []
    searched = bool(q.strip())
    if searched:
        result = lookup_service.where(
            session=session,
            principal=user.principal,
            query=q,
            kind=kind,
            secret=settings.secret_key,
            today=local_today(settings.zone),
            issuer=issuer or None,
        )
        issuers = result.issuers
        snaps = _snapshots(session, [h.carrier.label for h in result.hits])
        for hit in result.hits:
            snap = snaps[hit.carrier.label]
            hits.append(
                {
                    "hit": hit,
                    "where": where_words(snap, settings.zone),
                    "status": status_name(hit.carrier.status),
                    "others": [
                        {"other": o, "status": status_name(o.status)} for o in hit.other_copies
                    ],
                }
            )
    context = {
        "q": q,
        "kind": kind.value,
        "kinds": list(QueryKind),
        "hits": hits,
        "searched": searched,
        "issuer": issuer,
        "issuers": issuers,
    }
    return render(request, "where.html", context, user=user)


def _snapshots(session: Session, labels: list[str]) -> dict[str, carrier_service.Snapshot]:
    carriers = [carrier_service.get_by_label(session=session, label=x) for x in labels]
    snaps = carrier_service.snapshots(session=session, carriers=carriers)
    return {snap.carrier.label: snap for snap in snaps.values()}


@router.get("/carriers/{label}", response_class=HTMLResponse)
def carrier_page(
    request: Request, session: SessionDep, settings: SettingsDep, user: Looker, label: str
) -> HTMLResponse:
    """Everything known about one carrier, with its whole custody history. It shows patient
    IDs, so it is logged as a lookup by label."""
    lookup_service.where(
        session=session,
        principal=user.principal,
        query=label.upper(),
        kind=QueryKind.LABEL,
        secret=settings.secret_key,
        today=local_today(settings.zone),
    )
    carrier = carrier_service.get_by_label(session=session, label=label.upper())
    view = carrier_view(
        session,
        carrier_service.snapshot(session=session, carrier=carrier),
        settings.zone,
        history=None,
    )
    seen = sightings(session, id_of(carrier)) if user.may("inventory.read") else []
    context = {"card": view, "sightings": seen, "class_names": CLASS_NAMES}
    return render(request, "carrier.html", context, user=user)


@router.get("/locations/{code}", response_class=HTMLResponse)
def place_page(request: Request, session: SessionDep, user: PlaceReader, code: str) -> HTMLResponse:
    """A place: where it is, what is under it, the carriers stored on it, and the open
    inventory campaigns that cover it. A shelf label's QR code opens this page."""
    place = location_service.get_by_code(session=session, code=code.upper())
    carriers, total = carrier_service.list_carriers(
        session=session, status=None, location=place.code, offset=0, limit=PLACE_LIST
    )
    context = {
        "place": place,
        "children": location_service.children(session=session, location_id=id_of(place)),
        "carriers": [{"carrier": c, "status": status_name(c.status)} for c in carriers],
        "total": total,
        "campaigns": inventory_service.open_campaigns_covering(
            session=session, location_id=id_of(place)
        ),
    }
    return render(request, "place.html", context, user=user)


@router.post("/carriers/{label}/untag")
def remove_tag(
    request: Request, session: SessionDep, user: Tagger, _: Csrf, label: str
) -> Response:
    """Take the tag off the carrier (then it can label another one)."""
    carrier = tag_service.unbind(session=session, principal=user.principal, label=label.upper())
    return RedirectResponse(f"/carriers/{carrier.label}", status_code=303)


@router.get("/c/{label}", response_class=HTMLResponse)
def public_carrier(request: Request, session: SessionDep, label: str) -> HTMLResponse:
    """The page a phone opens when it taps a carrier's tag (the tag's URI record). Anyone can
    tap a tag, so it shows only what the tag itself says (label, kind, set) and how to give a
    found carrier back; everything else needs a log-in."""
    if not carrier_service.is_known_label(session=session, label=label):
        context = {
            "title": i18n.gettext("Unknown medium"),
            "body": i18n.gettext("This label is not registered here."),
        }
        return render(request, "public_carrier.html", context, status_code=404)
    carrier = carrier_service.get_by_label(session=session, label=label)
    body = i18n.gettext("A labelled medium of a hospital archive.")
    if carrier.set_total:
        body = i18n.gettext(
            "Part %(n)s of a set of %(m)s media.", n=carrier.set_number, m=carrier.set_total
        )
    context = {"title": carrier_service.name(carrier), "body": body}
    return render(request, "public_carrier.html", context)
