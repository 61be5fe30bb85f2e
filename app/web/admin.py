"""Administration: staff accounts, reader stations, the location tree, borrowers, and the
site's name and purposes of use. Each page calls its domain's service, on the same permission
as the API route that does the same; the service appends every change to the custody log as an
``admin_...`` event (never with a password or an API key in it), whether a page, the API or the
command line made it.

After a change the browser is sent back to the list (post/redirect/get, the message kept in the
session until shown), except after creating a station: its API key is on that answer only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import Session

from app.audit import service as audit_service
from app.borrowers import service as borrower_service
from app.borrowers.schemas import BorrowerCreate, BorrowerKind
from app.core.db import SessionDep
from app.core.deps import SettingsDep
from app.core.errors import N_, InvalidInputError
from app.core.principal import STAFF_ROLES, Role
from app.locations import service as location_service
from app.locations.models import Location
from app.locations.schemas import LocationCreate, LocationKind
from app.site import service as site_service
from app.site.schemas import SiteUpdate
from app.stations import service as station_service
from app.stations.schemas import StationCreate, StationKind
from app.users import service as user_service
from app.users.schemas import UserCreate
from app.web import flash, i18n
from app.web.forms import valid
from app.web.render import render
from app.web.security import Csrf, WebUser, page
from app.web.views import ROLE_NAMES, term

router = APIRouter(prefix="/admin", include_in_schema=False)

UserAdmin = Annotated[WebUser, Depends(page("users.manage"))]
StationAdmin = Annotated[WebUser, Depends(page("stations.manage"))]
PlaceAdmin = Annotated[WebUser, Depends(page("locations.write"))]
BorrowerAdmin = Annotated[WebUser, Depends(page("borrowers.write"))]

# The sections of the administration, each shown to whoever has its permission. The index
# needs borrowers.write, the permission every role with any of these has.
SECTIONS = [
    ("users", "/admin/users", "users.manage"),
    ("stations", "/admin/stations", "stations.manage"),
    ("locations", "/admin/locations", "locations.write"),
    ("borrowers", "/admin/borrowers", "borrowers.write"),
    ("site", "/admin/site", "users.manage"),
]
LOCATION_KINDS = {
    "site": N_("site"),
    "building": N_("building"),
    "room": N_("room"),
    "cabinet": N_("cabinet"),
    "shelf": N_("shelf"),
    "slot": N_("slot"),
    "vault": N_("vault"),
    "courier": N_("courier"),
    "desk": N_("desk"),
}
BORROWER_KINDS = {
    "staff": N_("member of staff"),
    "department": N_("department"),
    "external": N_("outside party"),
}


def _log(
    session: Session, user: WebUser, action: str, payload: dict[str, Any],
    location_id: int | None = None,
) -> None:
    audit_service.append(session, principal=user.principal, action=action, payload=payload,
                         location_id=location_id)


def _page(
    request: Request, user: WebUser, template: str, context: dict[str, Any]
) -> HTMLResponse:
    return render(request, template, {"flash": flash.take(request), **context}, user=user)


@router.get("", response_class=HTMLResponse)
def index(request: Request, user: BorrowerAdmin) -> HTMLResponse:
    sections = [(key, href) for key, href, permission in SECTIONS if user.may(permission)]
    return _page(request, user, "admin/index.html", {"sections": sections})


# --- staff accounts ------------------------------------------------------------------------


@router.get("/users", response_class=HTMLResponse)
def users(request: Request, session: SessionDep, user: UserAdmin) -> HTMLResponse:
    rows, _ = user_service.list_all(session=session, offset=0, limit=1000)
    context = {"users": rows, "roles": [r.value for r in STAFF_ROLES]}
    return _page(request, user, "admin/users.html", context)


@router.post("/users")
def create_user(
    request: Request, session: SessionDep, user: UserAdmin, _: Csrf,
    username: Annotated[str, Form(max_length=64)],
    display_name: Annotated[str, Form(max_length=120)],
    role: Annotated[str, Form(max_length=16)],
    password: Annotated[str, Form(max_length=256)],
) -> RedirectResponse:
    user_in = valid(UserCreate, username=username.strip(), display_name=display_name,
                     role=role, password=password)
    made = user_service.create(session=session, user_in=user_in, by=user.principal)
    return flash.redirect(request, "/admin/users",
                 i18n.gettext("The account %(name)s is created.", name=made.username))


@router.post("/users/{username}/deactivate")
def deactivate_user(
    request: Request, session: SessionDep, user: UserAdmin, _: Csrf, username: str
) -> RedirectResponse:
    user_service.deactivate(session=session, username=username, by=user.principal)
    return flash.redirect(request, "/admin/users",
                 i18n.gettext("The account %(name)s is deactivated.", name=username))


@router.post("/users/{username}/role")
def change_role(
    request: Request, session: SessionDep, user: UserAdmin, _: Csrf, username: str,
    role: Annotated[str, Form(max_length=16)],
) -> RedirectResponse:
    if role not in {r.value for r in STAFF_ROLES}:
        raise InvalidInputError(i18n.gettext("Check these fields: %(fields)s.", fields="role"))
    changed = user_service.change_role(session=session, username=username, role=Role(role),
                                       by=user.principal)
    return flash.redirect(request, "/admin/users",
                 i18n.gettext("%(name)s is now: %(role)s.", name=username,
                              role=term(ROLE_NAMES, changed.role)))


# --- reader stations -----------------------------------------------------------------------


@router.get("/stations", response_class=HTMLResponse)
def stations(request: Request, session: SessionDep, user: StationAdmin) -> HTMLResponse:
    return _page(request, user, "admin/stations.html", _stations_context(session))


def _stations_context(session: Session) -> dict[str, Any]:
    rows, _ = station_service.list_all(session=session, offset=0, limit=1000)
    places, _ = location_service.list_all(session=session, offset=0, limit=1000)
    return {
        "stations": [(s, station_service.to_public(session=session, station=s)) for s in rows],
        "kinds": [k.value for k in StationKind],
        "places": places,
    }


@router.post("/stations", response_class=HTMLResponse)
def create_station(
    request: Request, session: SessionDep, user: StationAdmin, _: Csrf,
    name: Annotated[str, Form(max_length=64)],
    kind: Annotated[str, Form(max_length=16)],
    location: Annotated[str, Form(max_length=32)],
) -> HTMLResponse:
    """The new station's API key is in this page and nowhere else (not even the session)."""
    station_in = valid(StationCreate, name=name.strip(), kind=kind, location=location)
    station, key = station_service.create(session=session, station_in=station_in,
                                          by=user.principal)
    response = render(request, "admin/station_key.html", {"station": station, "key": key},
                      user=user)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/stations/{name}/revoke")
def revoke_station(
    request: Request, session: SessionDep, user: StationAdmin, _: Csrf, name: str
) -> RedirectResponse:
    station_service.revoke(session=session, name=name, by=user.principal)
    return flash.redirect(request, "/admin/stations",
                 i18n.gettext("The key of station %(name)s is revoked.", name=name))


# --- the location tree ---------------------------------------------------------------------


@dataclass
class Node:
    place: Location
    children: list[Node] = field(default_factory=list)


def tree(places: list[Location]) -> list[Node]:
    """The locations as a forest: each under its parent, in path order."""
    nodes = {p.id: Node(p) for p in places}
    roots: list[Node] = []
    for place in places:
        parent = nodes.get(place.parent_id) if place.parent_id is not None else None
        (parent.children if parent else roots).append(nodes[place.id])
    return roots


@router.get("/locations", response_class=HTMLResponse)
def locations(request: Request, session: SessionDep, user: PlaceAdmin) -> HTMLResponse:
    places, _ = location_service.list_all(session=session, offset=0, limit=5000)
    context = {"tree": tree(places), "places": places,
               "kinds": [k.value for k in LocationKind], "kind_names": LOCATION_KINDS}
    return _page(request, user, "admin/locations.html", context)


@router.post("/locations")
def create_location(
    request: Request, session: SessionDep, user: PlaceAdmin, _: Csrf,
    code: Annotated[str, Form(max_length=32)],
    name: Annotated[str, Form(max_length=120)],
    kind: Annotated[str, Form(max_length=16)],
    parent: Annotated[str, Form(max_length=32)] = "",
    tag_uid: Annotated[str, Form(max_length=64)] = "",
) -> RedirectResponse:
    location_in = valid(LocationCreate, code=code.strip().upper(), name=name, kind=kind,
                         parent=parent, tag_uid=tag_uid.strip())
    place = location_service.create(session=session, location_in=location_in,
                                    by=user.principal)
    return flash.redirect(request, "/admin/locations",
                 i18n.gettext("%(path)s is added.", path=place.path))


# --- borrowers -----------------------------------------------------------------------------


@router.get("/borrowers", response_class=HTMLResponse)
def borrowers(request: Request, session: SessionDep, user: BorrowerAdmin) -> HTMLResponse:
    rows, _ = borrower_service.list_all(session=session, offset=0, limit=5000)
    context = {"borrowers": rows, "kinds": [k.value for k in BorrowerKind],
               "kind_names": BORROWER_KINDS}
    return _page(request, user, "admin/borrowers.html", context)


@router.post("/borrowers")
def create_borrower(
    request: Request, session: SessionDep, user: BorrowerAdmin, _: Csrf,
    name: Annotated[str, Form(max_length=120)],
    kind: Annotated[str, Form(max_length=16)],
    department: Annotated[str, Form(max_length=120)] = "",
) -> RedirectResponse:
    borrower_in = valid(BorrowerCreate, name=name, department=department, kind=kind)
    made = borrower_service.create(session=session, borrower_in=borrower_in, by=user.principal)
    return flash.redirect(request, "/admin/borrowers",
                 i18n.gettext("%(name)s can now borrow.", name=made.name))


# --- the site ------------------------------------------------------------------------------


@router.get("/site", response_class=HTMLResponse)
def site(
    request: Request, session: SessionDep, settings: SettingsDep, user: UserAdmin
) -> HTMLResponse:
    current = site_service.current(session=session, settings=settings)
    return _page(request, user, "admin/site.html", {"site": current})


@router.post("/site")
def update_site(
    request: Request, session: SessionDep, user: UserAdmin, _: Csrf,
    site_name: Annotated[str, Form(max_length=120)],
    purposes: Annotated[str, Form(max_length=1000)],
    approval_purposes: Annotated[str, Form(max_length=1000)] = "",
) -> RedirectResponse:
    site_in = valid(SiteUpdate, site_name=site_name, purposes=_codes(purposes),
                     approval_purposes=_codes(approval_purposes))
    site_service.update(session=session, site_in=site_in, by=user.principal)
    return flash.redirect(request, "/admin/site", i18n.gettext("Saved."))


def _codes(text: str) -> list[str]:
    """Codes typed with commas, spaces or one a line."""
    return [c.upper() for c in text.replace(",", " ").split() if c]
