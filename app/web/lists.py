"""The lists an archive works through (open and overdue loans, transfers, missing carriers,
legal holds, carriers that may hold the only copy, verification due) and a dashboard.

Each list page costs a fixed number of queries, however long it is: one for its carriers (or
the domain service that lists them), the snapshots' batched loads (their places included) and
at most one more for the list's own facts (tests/app/web/test_lists.py counts them).

Dates are days in the site's zone (Settings.zone), as the custody log shows its times: "today",
what is overdue, and the day a moment (lent, dispatched, reported missing) fell on.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_skeleton
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session, col, func, select
from sqlmodel.sql.expression import SelectOfScalar

from app.audit.models import CustodyEvent
from app.carriers import service as carrier_service
from app.carriers.models import Carrier
from app.carriers.schemas import CarrierStatus
from app.core.db import SessionDep
from app.core.deps import SettingsDep
from app.core.errors import N_, NotFoundError
from app.core.ids import id_of
from app.core.time import local_date, local_today
from app.custody import service as custody_service
from app.custody.models import Loan, Transfer, TransferItem
from app.locations.models import Location
from app.locations.schemas import LocationKind
from app.locations.service import PATH_SEPARATOR
from app.media.models import MediaIntake
from app.pacs import service as pacs_service
from app.pacs.models import PacsCheck
from app.preservation import service as preservation_service
from app.web import charts, i18n
from app.web.i18n import format_date, gettext, ngettext
from app.web.render import render
from app.web.security import WebUser, page
from app.web.views import ACTION_NAMES, PURPOSE_NAMES, STATUS_NAMES, status_name, term, where_words

router = APIRouter(include_in_schema=False)

Watcher = Annotated[WebUser, Depends(page("custody.overdue"))]

# The tabs, in order: the path under /lists and the tab's name.
LISTS: dict[str, str] = {
    "loans": N_("Lent out"),
    "overdue": N_("Overdue"),
    "transfers": N_("In transit"),
    "missing": N_("Missing"),
    "holds": N_("Legal hold"),
    "at-risk": N_("At risk"),
    "verification": N_("Verification due"),
}
INTROS: dict[str, str] = {
    "loans": N_("Every carrier lent out and not yet back, the earliest due first."),
    "overdue": N_("Loans past their due date, the longest overdue first."),
    "transfers": N_("Carriers dispatched and not yet received; late ones first."),
    "missing": N_("Carriers reported missing and not found again."),
    "holds": N_("Carriers under legal hold: they may not be retired or destroyed."),
    "at-risk": N_(
        "Carriers the PACS lacks (part of) a study of at its latest check: they may hold the "
        "only copy."
    ),
    "verification": N_(
        "Carriers with a manifest that the verification policy says must be read again."
    ),
}
# The policy's reasons (app/preservation/policy.py) that have a fixed wording.
REASONS = {
    "never verified since it was written or imported": N_(
        "never verified since it was written or imported"
    ),
    "returned from loan or transfer since its last verification": N_(
        "returned from loan or transfer since its last verification"
    ),
}
OUT_OF_HAND = (
    CarrierStatus.CHECKED_OUT.value,
    CarrierStatus.IN_TRANSIT.value,
    CarrierStatus.MISSING.value,
    CarrierStatus.DESTROYED.value,
)
# Custody activity: every action of the log about a carrier but a look-up.
ACTIVITY = tuple(a for a in ACTION_NAMES if a != "lookup")
OVERDUE_BUCKETS = ((1, 7), (8, 30), (31, None))
TOP_PLACES = 6


@dataclass
class Row:
    label: str
    kind: str
    status: str
    status_text: str
    hold: bool
    cells: list[str]
    late: bool = False


@dataclass
class Table:
    headers: list[str]
    rows: list[Row] = field(default_factory=list)


def _row(snap: carrier_service.Snapshot, cells: list[str], late: bool = False) -> Row:
    c = snap.carrier
    return Row(c.label, c.kind, c.status, status_name(c.status), c.legal_hold, cells, late)


def _holder(snap: carrier_service.Snapshot) -> str:
    b = snap.borrower
    if b is None:
        return "?"
    return f"{b.name} ({b.department})" if b.department else b.name


def _days(n: int) -> str:
    return ngettext("%(num)d day", "%(num)d days", n) if n > 0 else ""


def _loans(session: Session, zone: ZoneInfo) -> Table:
    today = local_today(zone)
    query = (
        select(Carrier)
        .join(Loan, col(Loan.carrier_id) == col(Carrier.id))
        .where(col(Loan.returned_at).is_(None))
        .order_by(col(Loan.due_on), col(Carrier.label))
    )
    carriers = list(session.exec(query))
    snaps = carrier_service.snapshots(session=session, carriers=carriers)
    table = Table([gettext("Holder"), gettext("Purpose"), gettext("Lent on"), gettext("Due"),
                   gettext("Overdue by")])
    for c in carriers:
        snap = snaps[id_of(c)]
        loan = snap.loan
        if loan is None:
            continue
        late = (today - loan.due_on).days
        table.rows.append(_row(snap, [
            _holder(snap), term(PURPOSE_NAMES, loan.purpose),
            format_date(local_date(loan.out_at, zone)),
            format_date(loan.due_on), _days(late),
        ], late=late > 0))
    return table


def _overdue(session: Session, zone: ZoneInfo) -> Table:
    today = local_today(zone)
    found = custody_service.overdue_loans(session=session, today=today)
    snaps = carrier_service.snapshots(session=session, carriers=[c for c, _ in found])
    table = Table([gettext("Holder"), gettext("Due"), gettext("Overdue by")])
    for carrier, loan in found:
        snap = snaps[id_of(carrier)]
        table.rows.append(_row(snap, [
            _holder(snap), format_date(loan.due_on), _days((today - loan.due_on).days),
        ], late=True))
    return table


def _transfers(session: Session, zone: ZoneInfo) -> Table:
    today = local_today(zone)
    query = select(Carrier).where(Carrier.status == CarrierStatus.IN_TRANSIT.value)
    carriers = list(session.exec(query.order_by(col(Carrier.label))))
    snaps = carrier_service.snapshots(session=session, carriers=carriers)

    def expected(snap: carrier_service.Snapshot) -> date:
        t = snap.transfer
        return t.expected_on if t is not None and t.expected_on else date.max

    table = Table([gettext("To"), gettext("Seal"), gettext("Dispatched"), gettext("Expected"),
                   gettext("Late by")])
    for snap in sorted(snaps.values(), key=expected):
        t = snap.transfer
        if t is None:
            continue
        late = (today - t.expected_on).days if t.expected_on else 0
        table.rows.append(_row(snap, [
            snap.destination.path if snap.destination else "?", t.seal_number or "",
            format_date(local_date(t.dispatched_at, zone)), format_date(t.expected_on),
            _days(late),
        ], late=late > 0))
    return table


def _latest_events(session: Session, action: str, ids: list[int]) -> dict[int, CustodyEvent]:
    """Each carrier's latest event of one action (one query)."""
    if not ids:
        return {}
    query = (
        select(CustodyEvent)
        .where(CustodyEvent.action == action, col(CustodyEvent.carrier_id).in_(ids))
        .order_by(col(CustodyEvent.seq))
    )
    return {e.carrier_id: e for e in session.exec(query) if e.carrier_id is not None}


def _reason(event: CustodyEvent | None) -> str:
    if event is None:
        return ""
    try:
        return str(json.loads(event.payload).get("reason") or "")
    except (ValueError, AttributeError):
        return ""


def _missing(session: Session, zone: ZoneInfo) -> Table:
    query = select(Carrier).where(Carrier.status == CarrierStatus.MISSING.value)
    carriers = list(session.exec(query.order_by(col(Carrier.label))))
    snaps = carrier_service.snapshots(session=session, carriers=carriers)
    events = _latest_events(session, "missing", [id_of(c) for c in carriers])
    table = Table([gettext("Missing since"), gettext("Where")])
    for c in carriers:
        since = events.get(id_of(c))
        table.rows.append(_row(snaps[id_of(c)], [
            format_date(local_date(since.recorded_at, zone)) if since else "",
            where_words(snaps[id_of(c)], zone, since.recorded_at if since else None),
        ]))
    return table


def _holds(session: Session, zone: ZoneInfo) -> Table:
    query = select(Carrier).where(col(Carrier.legal_hold).is_(True))
    carriers = list(session.exec(query.order_by(col(Carrier.label))))
    snaps = carrier_service.snapshots(session=session, carriers=carriers)
    events = _latest_events(session, "legal_hold", [id_of(c) for c in carriers])
    table = Table([gettext("On hold since"), gettext("Reason"), gettext("Where")])
    for c in carriers:
        since = events.get(id_of(c))
        table.rows.append(_row(snaps[id_of(c)], [
            format_date(local_date(since.recorded_at, zone)) if since else "", _reason(since),
            where_words(snaps[id_of(c)], zone),
        ]))
    return table


def _at_risk(session: Session, zone: ZoneInfo) -> Table:
    risks = pacs_service.at_risk(session=session)
    snaps = carrier_service.snapshots(session=session, carriers=[r.carrier for r in risks])
    table = Table([gettext("PACS checked"), gettext("Studies the PACS lacks"), gettext("Where")])
    for r in risks:
        counts = Counter(r.studies.values())
        lacks = gettext(
            "%(absent)d absent, %(partial)d incomplete",
            absent=counts.get("absent", 0), partial=counts.get("partial", 0),
        )
        snap = snaps[id_of(r.carrier)]
        checked = format_date(local_date(r.checked_at, zone))
        table.rows.append(_row(snap, [checked, lacks, where_words(snap, zone)], late=True))
    return table


def _verification(session: Session, zone: ZoneInfo) -> Table:
    due = preservation_service.verification_due(
        session=session, today=local_today(zone), zone=zone
    )
    snaps = carrier_service.snapshots(session=session, carriers=[d.carrier for d in due])
    table = Table([gettext("Last verified"), gettext("Why"), gettext("Where")])
    for d in due:
        snap = snaps[id_of(d.carrier)]
        reasons = "; ".join(gettext(REASONS[r]) if r in REASONS else r for r in d.reasons)
        last = format_date(d.last_verified) if d.last_verified else gettext("never")
        table.rows.append(_row(snap, [last, reasons, where_words(snap, zone)]))
    return table


BUILDERS: dict[str, Callable[[Session, ZoneInfo], Table]] = {
    "loans": _loans,
    "overdue": _overdue,
    "transfers": _transfers,
    "missing": _missing,
    "holds": _holds,
    "at-risk": _at_risk,
    "verification": _verification,
}


@router.get("/lists/{name}", response_class=HTMLResponse)
def list_page(
    request: Request, session: SessionDep, settings: SettingsDep, user: Watcher, name: str
) -> HTMLResponse:
    if name not in BUILDERS:
        raise NotFoundError(gettext("There is no such list."))
    table = BUILDERS[name](session, settings.zone)
    context = {"name": name, "lists": LISTS, "intro": INTROS[name], "table": table}
    return render(request, "lists/list.html", context, user=user)


# The dashboard


@dataclass
class Tile:
    key: str
    count: int
    note: str = ""


def _count(session: Session, query: SelectOfScalar[int]) -> int:
    return int(session.exec(query).one())


def _places(session: Session) -> list[tuple[str, int]]:
    """Carriers in the archive's hands by room (or vault, else the top place), most first."""
    where = (
        select(Carrier.current_location_id, func.count())
        .where(col(Carrier.status).not_in(OUT_OF_HAND))
        .group_by(col(Carrier.current_location_id))
    )
    counts = dict(session.exec(where).all())
    places = {p.id: p for p in session.exec(select(Location))}

    def room(place: Location) -> Location:
        seen = place
        while seen.kind not in (LocationKind.ROOM, LocationKind.VAULT) and seen.parent_id:
            seen = places[seen.parent_id]
        return seen if seen.kind in (LocationKind.ROOM, LocationKind.VAULT) else place

    totals: Counter[str] = Counter()
    for place_id, n in counts.items():
        parts = room(places[place_id]).path.split(PATH_SEPARATOR)
        totals[PATH_SEPARATOR.join(parts[1:]) or parts[0]] += n
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    top = ranked[:TOP_PLACES]
    if len(ranked) > TOP_PLACES:
        top.append((gettext("other places"), sum(n for _, n in ranked[TOP_PLACES:])))
    return top


def _activity(session: Session, zone: ZoneInfo) -> list[tuple[str, int]]:
    """Custody events per day of the last 30 days (days in the site's time zone)."""
    today = local_today(zone)
    days = [today - timedelta(days=n) for n in range(29, -1, -1)]
    start = datetime.combine(days[0], time(), zone)
    query = select(CustodyEvent.recorded_at).where(
        col(CustodyEvent.recorded_at) >= start, col(CustodyEvent.action).in_(ACTIVITY)
    )
    per_day = Counter(local_date(at, zone) for at in session.exec(query))
    locale = Locale.parse(i18n.current())
    return [(format_skeleton("MMMd", day, locale=locale), per_day[day]) for day in days]


def _overdue_buckets(session: Session, today: date) -> list[tuple[str, int]]:
    late = [(today - loan.due_on).days
            for _, loan in custody_service.overdue_loans(session=session, today=today)]
    out = []
    for low, high in OVERDUE_BUCKETS:
        n = sum(1 for d in late if d >= low and (high is None or d <= high))
        text = (ngettext("%(num)d+ day", "%(num)d+ days", low) if high is None
                else gettext("%(low)d–%(high)d days", low=low, high=high))
        out.append((text, n))
    return out


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(
    request: Request, session: SessionDep, settings: SettingsDep, user: Watcher
) -> HTMLResponse:
    today = local_today(settings.zone)
    by_status = dict(session.exec(
        select(Carrier.status, func.count()).group_by(col(Carrier.status))
    ).all())
    held = sum(n for s, n in by_status.items() if s != CarrierStatus.DESTROYED.value)
    in_hand = col(Carrier.status).not_in(
        (CarrierStatus.DESTROYED.value, CarrierStatus.MISSING.value)
    )
    manifests = _count(session, select(func.count(func.distinct(MediaIntake.carrier_id)))
                       .join(Carrier, col(Carrier.id) == col(MediaIntake.carrier_id))
                       .where(in_hand))
    due = len(preservation_service.verification_due(session=session, today=today,
                                                    zone=settings.zone))
    checked = _count(session, select(func.count(func.distinct(PacsCheck.carrier_id)))
                     .join(Carrier, col(Carrier.id) == col(PacsCheck.carrier_id))
                     .where(col(Carrier.status) != CarrierStatus.DESTROYED.value))
    late_transfers = _count(session, select(func.count(func.distinct(TransferItem.carrier_id)))
                            .join(Transfer, col(Transfer.id) == col(TransferItem.transfer_id))
                            .where(col(TransferItem.closed_at).is_(None),
                                   col(Transfer.expected_on) < today))
    overdue = _overdue_buckets(session, today)
    tiles = [
        Tile("loans", _count(session, select(func.count()).select_from(Loan)
                             .where(col(Loan.returned_at).is_(None)))),
        Tile("overdue", sum(n for _, n in overdue)),
        Tile("transfers", by_status.get(CarrierStatus.IN_TRANSIT.value, 0),
             ngettext("%(num)d late", "%(num)d late", late_transfers) if late_transfers else ""),
        Tile("missing", by_status.get(CarrierStatus.MISSING.value, 0)),
        Tile("holds", _count(session, select(func.count()).select_from(Carrier)
                             .where(col(Carrier.legal_hold).is_(True)))),
        Tile("at-risk", len(pacs_service.at_risk(session=session))),
        Tile("verification", due),
    ]
    within = max(manifests - due, 0)
    pictures = {
        "states": charts.bars("states", gettext("Carriers by state"), [
            (gettext(STATUS_NAMES[s]), by_status.get(s.value, 0)) for s in CarrierStatus
        ]),
        "places": charts.bars("places", gettext("Carriers in the archive's hands, by room"),
                              _places(session)),
        "overdue": charts.bars("overdue", gettext("Overdue loans by days overdue"), overdue),
        "activity": charts.columns(
            "activity", gettext("Custody events per day, last 30 days"),
            _activity(session, settings.zone),
        ),
        "fixity": charts.share(
            "fixity", gettext("Verified within policy"), within, held,
            gettext("%(part)d of %(whole)d carriers have a manifest verified within policy.",
                    part=within, whole=held),
        ),
        "pacs": charts.share(
            "pacs", gettext("Checked against the PACS"), checked, held,
            gettext("%(part)d of %(whole)d carriers have been checked against the PACS.",
                    part=checked, whole=held),
        ),
    }
    context = {"tiles": tiles, "lists": LISTS, "held": held, "charts": pictures}
    return render(request, "lists/dashboard.html", context, user=user)
