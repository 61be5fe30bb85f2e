"""Labels to print: carrier labels (disc case spine, disc hub, LTO case) and shelf labels on
A4 label sheets, each with a QR code of the page a phone should open.

The QR codes are drawn on the server as inline SVG (segno); the sheet is a plain page with a
print stylesheet (``static/labels.css``), so the browser's Print puts each sheet on one A4
page at 100 % scale. Choosing what to print is a GET form: printing changes nothing.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

import segno
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup
from sqlmodel import Session, col, or_, select

from app.carriers.models import Carrier
from app.carriers.schemas import CarrierKind, CarrierStatus
from app.core.db import SessionDep
from app.core.deps import SettingsDep
from app.core.errors import N_
from app.core.validation import is_label
from app.locations import service as location_service
from app.locations.models import Location
from app.web import i18n
from app.web.render import render
from app.web.security import WebUser, page

router = APIRouter(prefix="/labels", include_in_schema=False)

# Printing labels is part of registering carriers: the clerk's job.
Labeller = Annotated[WebUser, Depends(page("carriers.register"))]

MAX_LABELS = 500


@dataclass(frozen=True)
class Stock:
    """An A4 label sheet: ``columns`` x ``rows`` cells (the sizes are in labels.css)."""

    key: str
    columns: int
    rows: int
    cell: str  # the cell size in millimetres, as the form names the stock

    @property
    def per_page(self) -> int:
        return self.columns * self.rows


STOCKS = {
    # A disc case spine: a narrow strip (a DVD case spine is 14 mm wide).
    "spine": Stock("spine", 2, 20, "105 × 14.8"),
    # A disc hub: a round label of 40 mm with the QR code in the middle.
    "hub": Stock("hub", 3, 7, "70 × 42.3, ⌀ 40"),
    # An LTO (or disc) case: the common 3 x 7 label sheet.
    "case": Stock("case", 3, 7, "70 × 42.3"),
    "shelf": Stock("shelf", 3, 7, "70 × 42.3"),
}
CARRIER_STOCKS = ("case", "spine", "hub")
STOCK_NAMES = {
    "case": N_("LTO or disc case"),
    "spine": N_("Disc case spine (a narrow strip)"),
    "hub": N_("Disc hub (round, 40 mm)"),
    "shelf": N_("Shelf"),
}


@dataclass(frozen=True)
class Label:
    """What one printed label shows."""

    code: str
    url: str
    qr: Markup
    kind: str = ""
    set_text: str | None = None
    path: str | None = None


def qr_svg(data: str, title: str) -> Markup:
    """A QR code of ``data`` as inline SVG: no XML declaration, sized by the stylesheet, its
    title (escaped by segno) as its accessible name and the encoded text in ``data-url``."""
    code = segno.make(data, error="m", micro=False)
    out = io.BytesIO()
    code.save(out, kind="svg", xmldecl=False, svgns=False, nl=False, omitsize=True, border=2,
              svgclass="qr", lineclass=None, title=title)
    svg = out.getvalue().decode("utf-8")
    if not svg.startswith('<svg viewBox="') or "<?xml" in svg:
        raise RuntimeError("segno wrote an unexpected SVG")
    return Markup('<svg role="img" data-url="{}" ').format(data) + Markup(svg[len("<svg "):])


def _label(
    code: str, url: str, *, kind: str = "", set_text: str | None = None, path: str | None = None
) -> Label:
    return Label(code, url, qr_svg(url, code), kind, set_text, path)


def carrier_url(public_url: str, label: str) -> str:
    """The page a carrier's tag opens (readers/carrier_label.py writes the same URI)."""
    return f"{public_url.rstrip('/')}/c/{label}"


def place_url(public_url: str, code: str) -> str:
    """The place's page: what is on it, and the inventory campaigns that can sweep it now."""
    return f"{public_url.rstrip('/')}/locations/{quote(code, safe='')}"


def set_text(carrier: Carrier) -> str | None:
    if not carrier.set_total:
        return None
    number = carrier.set_number or "?"
    if carrier.kind in {k.value for k in CarrierKind if k.is_tape}:
        return i18n.gettext("tape %(n)s of %(m)s", n=number, m=carrier.set_total)
    return i18n.gettext("disc %(n)s of %(m)s", n=number, m=carrier.set_total)


def split_codes(text: str) -> list[str]:
    """Codes typed or pasted one per line, or separated by spaces or commas; upper case, each
    once, in the order given."""
    seen: dict[str, None] = {}
    for code in re.split(r"[\s,;]+", text.upper()):
        if code:
            seen.setdefault(code, None)
    return list(seen)


def pages_of(items: list[Label], stock: Stock) -> list[list[Label]]:
    return [items[i : i + stock.per_page] for i in range(0, len(items), stock.per_page)]


def _under(session: Session, code: str) -> list[int]:
    """The ids of a location and of every location inside it."""
    place = location_service.get_by_code(session=session, code=code)
    inside = col(Location.path).startswith(place.path + location_service.PATH_SEPARATOR)
    query = select(Location.id).where(or_(Location.id == place.id, inside))
    return [i for i in session.exec(query) if i is not None]


def _carriers(session: Session, labels: list[str], shelf: str) -> tuple[list[Carrier], list[str]]:
    """The carriers named (in the order given) and those whose home is the shelf (or a slot of
    it); the names that are not registered labels."""
    found: dict[str, Carrier] = {}
    wanted = [x for x in labels if is_label(x)]
    if wanted:
        rows = session.exec(select(Carrier).where(col(Carrier.label).in_(wanted)))
        found = {c.label: c for c in rows}
    carriers = [found[x] for x in labels if x in found]
    if shelf:
        query = (
            select(Carrier)
            .where(
                col(Carrier.home_location_id).in_(_under(session, shelf)),
                col(Carrier.status) != CarrierStatus.DESTROYED.value,
            )
            .order_by(col(Carrier.label))
        )
        carriers += [c for c in session.exec(query) if c.label not in found]
    return carriers, [x for x in labels if x not in found]


def _locations(session: Session) -> list[Location]:
    places, _ = location_service.list_all(session=session, offset=0, limit=2000)
    return places


@router.get("", response_class=HTMLResponse)
def choose(request: Request, session: SessionDep, user: Labeller) -> HTMLResponse:
    """The two forms: carrier labels (a list of labels, or a shelf's carriers) and shelf
    labels."""
    context = {
        "locations": _locations(session),
        "stocks": [(key, STOCKS[key], STOCK_NAMES[key]) for key in CARRIER_STOCKS],
    }
    return render(request, "labels/choose.html", context, user=user)


@router.get("/sheet", response_class=HTMLResponse)
def carrier_sheet(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: Labeller,
    labels: Annotated[str, Query(max_length=20_000)] = "",
    shelf: Annotated[str, Query(max_length=32)] = "",
    size: Annotated[str, Query(pattern="^(case|spine|hub)$")] = "case",
) -> HTMLResponse:
    """A sheet of carrier labels of one size, ready to print."""
    carriers, unknown = _carriers(session, split_codes(labels)[:MAX_LABELS], shelf.upper())
    items = [
        _label(c.label, carrier_url(settings.PUBLIC_URL, c.label), kind=c.kind,
               set_text=set_text(c))
        for c in carriers[:MAX_LABELS]
    ]
    return _sheet(request, user, STOCKS[size], items, unknown)


@router.get("/shelves", response_class=HTMLResponse)
def shelf_sheet(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: Labeller,
    codes: Annotated[str, Query(max_length=20_000)] = "",
    under: Annotated[str, Query(max_length=32)] = "",
) -> HTMLResponse:
    """A sheet of location labels: the codes given, or a location and everything inside it."""
    wanted = split_codes(codes)[:MAX_LABELS]
    query = select(Location).where(col(Location.code).in_(wanted))
    found = {p.code: p for p in session.exec(query)} if wanted else {}
    places = [found[x] for x in wanted if x in found]
    if under:
        inside = select(Location).where(col(Location.id).in_(_under(session, under.upper())))
        places += [p for p in session.exec(inside.order_by(col(Location.path)))
                   if p.code not in found]
    items = [
        _label(p.code, place_url(settings.PUBLIC_URL, p.code), path=p.path)
        for p in places[:MAX_LABELS]
    ]
    return _sheet(request, user, STOCKS["shelf"], items, [x for x in wanted if x not in found])


def _sheet(
    request: Request, user: WebUser, stock: Stock, items: list[Label], unknown: list[str]
) -> HTMLResponse:
    context = {
        "stock": stock,
        "stock_name": STOCK_NAMES[stock.key],
        "sheets": pages_of(items, stock),
        "count": len(items),
        "unknown": unknown,
    }
    return render(request, "labels/sheet.html", context, user=user)
