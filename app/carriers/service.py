"""Carriers: registration, reading, and the plain sentences that describe them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import BindParameter, Select, bindparam, update
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, func, select

from app.audit import service as audit_service
from app.borrowers.models import Borrower
from app.carriers.models import Carrier
from app.carriers.schemas import (
    CarrierCreate,
    CarrierPublic,
    CarrierStatus,
    HolderPublic,
    PlacePublic,
    StudyBrief,
    TagPublic,
    TransitPublic,
)
from app.core.bulk import Bulk
from app.core.errors import N_, ConflictError, NotFoundError, Phrase
from app.core.ids import id_of
from app.core.principal import Principal
from app.core.validation import check_label, is_label
from app.custody.models import Loan, Transfer, TransferItem
from app.locations import service as location_service
from app.locations.models import Location
from app.studies.models import CarrierStudy, Study
from app.tags.models import Tag


def get_by_label(*, session: Session, label: str, for_update: bool = False) -> Carrier:
    check_label(label)
    query = select(Carrier).where(Carrier.label == label)
    if for_update:
        query = query.with_for_update()
    carrier = session.exec(query).one_or_none()
    if carrier is None:
        raise NotFoundError("No carrier is registered under that label.")
    return carrier


def is_known_label(*, session: Session, label: str) -> bool:
    if not is_label(label):
        return False
    return session.exec(select(Carrier.id).where(Carrier.label == label)).first() is not None


def register(*, session: Session, principal: Principal, carrier_in: CarrierCreate) -> Carrier:
    audit_service.lock_head(session)
    if session.exec(select(Carrier.id).where(Carrier.label == carrier_in.label)).first():
        raise ConflictError("The label {label} is already registered.", label=carrier_in.label)
    home = location_service.get_by_code(session=session, code=carrier_in.home_location)
    carrier = Carrier(
        **carrier_in.model_dump(exclude={"home_location", "kind"}),
        kind=carrier_in.kind.value,
        status=CarrierStatus.REGISTERED.value,
        home_location_id=id_of(home),
        current_location_id=id_of(home),
    )
    session.add(carrier)
    session.flush()
    audit_service.append(
        session,
        principal=principal,
        action="register",
        carrier=carrier,
        location_id=home.id,
        payload={"kind": carrier.kind},
    )
    return carrier


# (carrier id, when, where): one sighting of a carrier by a scan or an inventory sweep.
Seen = tuple[int, datetime, int | None]
_CARRIERS = Carrier.__table__.c  # type: ignore[attr-defined]
_NOTE_SEEN = Bulk(
    Carrier.__table__,  # type: ignore[attr-defined]
    ("id", "at", "where"),
    lambda v: update(Carrier.__table__)  # type: ignore[attr-defined]
    .where(_CARRIERS.id == v.c.id)
    # A read delivered late (an outbox that was offline) must not move "last seen" back.
    .where(_CARRIERS.last_seen_at.is_(None) | (_CARRIERS.last_seen_at <= v.c.at))
    .values(last_seen_at=v.c.at, last_seen_location_id=v.c.where),
    types={"at": "last_seen_at", "where": "last_seen_location_id"},
)


def note_seen(*, session: Session, seen: list[Seen]) -> None:
    """Move carriers' "last seen" time and place forward, in one statement (core.bulk, not
    one ORM flush per carrier). Carriers the session holds are kept in step."""
    if not seen:
        return
    # One row per carrier, its latest sighting (a later one of equal time wins, as it would
    # applied in order): one UPDATE over all rows changes each carrier once.
    latest: dict[int, Seen] = {}
    for item in seen:
        kept = latest.get(item[0])
        if kept is None or item[1] >= kept[1]:
            latest[item[0]] = item
    seen = list(latest.values())
    _NOTE_SEEN.run(session, seen)
    # The session holds a few objects, a batch hundreds of carriers: walk the smaller side.
    held = {c.id: c for c in session.identity_map.values() if isinstance(c, Carrier)}
    if not held:
        return
    for carrier_id, at, where in seen:
        carrier = held.get(carrier_id)
        if carrier is not None and (carrier.last_seen_at is None or at >= carrier.last_seen_at):
            set_committed_value(carrier, "last_seen_at", at)
            set_committed_value(carrier, "last_seen_location_id", where)


def name(carrier: Carrier) -> str:
    """How a clerk says it: "DVD RAD0001234" (with "part 2 of 3" for a set)."""
    return str(name_phrase(carrier))


def name_phrase(carrier: Carrier) -> Phrase:
    """:func:`name`, to be said in a page's language (errors take it as a parameter)."""
    if carrier.set_total:
        return Phrase(
            "{kind} {label} (part {number} of {total})", kind=carrier.kind,
            label=carrier.label, number=carrier.set_number, total=carrier.set_total,
        )
    return Phrase("{kind} {label}", kind=carrier.kind, label=carrier.label)


# How a sentence says a carrier's status ("DVD RAD0001234 is <checked out>; retire it first.").
STATUS_WORDS = {
    CarrierStatus.REGISTERED: N_("registered"),
    CarrierStatus.IN_STORAGE: N_("in storage"),
    CarrierStatus.CHECKED_OUT: N_("checked out"),
    CarrierStatus.IN_TRANSIT: N_("in transit"),
    CarrierStatus.MISSING: N_("missing"),
    CarrierStatus.FOUND: N_("found"),
    CarrierStatus.RETIRED: N_("retired"),
    CarrierStatus.DESTROYED: N_("destroyed"),
}


# The months as a sentence says them (strftime's %b would follow the process's locale).
MONTHS = (
    N_("Jan"), N_("Feb"), N_("Mar"), N_("Apr"), N_("May"), N_("Jun"),
    N_("Jul"), N_("Aug"), N_("Sep"), N_("Oct"), N_("Nov"), N_("Dec"),
)


def date_phrase(day: date, *, today: date) -> Phrase:
    """3 Dec, or 3 Dec 2027 when not this year (``today``'s, in the archive's zone)."""
    month = Phrase(MONTHS[day.month - 1])
    if day.year == today.year:
        return Phrase("{day} {month}", day=day.day, month=month)
    return Phrase("{day} {month} {year}", day=day.day, month=month, year=day.year)


@dataclass
class Snapshot:
    """A carrier with everything a desk, a lookup or an error sentence says about it."""

    carrier: Carrier
    place: Location
    home: Location
    loan: Loan | None = None
    borrower: Borrower | None = None
    transfer: Transfer | None = None
    destination: Location | None = None
    tag: Tag | None = None
    studies: list[StudyBrief] = field(default_factory=list)


# Where a carrier is and belongs, its tag and its open loan, for a set of carriers: one
# statement built once (building a statement with aliases costs more in Python than running
# it), the set bound as an expanding parameter ("keys") so the compiled form is cached.
_PLACE, _HOME = aliased(Location), aliased(Location)


def _facts(*first: Any, where: Any, tagged: bool = False) -> Select[Any]:
    query = (
        sa_select(*first, _PLACE, _HOME, Tag, Loan, Borrower)
        .select_from(Carrier)
        .join(_PLACE, col(_PLACE.id) == col(Carrier.current_location_id))
        .join(_HOME, col(_HOME.id) == col(Carrier.home_location_id))
    )
    # By tag, an inner join: SQLite does not turn a LEFT JOIN whose right side is filtered by
    # an IN list of more than one value into a join, and plans it as a scan of every carrier.
    on_tag = col(Tag.id) == col(Carrier.tag_id)
    query = query.join(Tag, on_tag) if tagged else query.outerjoin(Tag, on_tag)
    return (
        query.outerjoin(
            Loan, (col(Loan.carrier_id) == col(Carrier.id)) & col(Loan.returned_at).is_(None)
        )
        .outerjoin(Borrower, col(Borrower.id) == col(Loan.borrower_id))
        .where(where)
    )


def _snapshot(
    carrier: Carrier,
    at: Location,
    belongs: Location,
    tag: Tag | None,
    loan: Loan | None,
    borrower: Borrower | None,
) -> Snapshot:
    """A carrier's snapshot from the facts a :func:`_facts` row holds after its first
    columns, in that statement's order."""
    return Snapshot(carrier=carrier, place=at, home=belongs, loan=loan, borrower=borrower, tag=tag)


_KEYS: BindParameter[Any] = bindparam("keys", expanding=True)
_FACTS = _facts(col(Carrier.id), where=col(Carrier.id).in_(_KEYS))
# By the UID of the carrier's active tag, the carrier with them (a scan's reads).
_FACTS_BY_TAG = _facts(col(Tag.uid), Carrier, where=col(Tag.uid).in_(_KEYS), tagged=True)


def snapshots_query(where: Any, *, limit: int) -> Select[Any]:
    """The statement of :func:`snapshots_found`: the first ``limit`` carriers meeting
    ``where``, by label, with their facts. Build it once (at import) and bind its parameters
    per call."""
    return _facts(Carrier, where=where).order_by(col(Carrier.label)).limit(limit)


# Columns, not Study entities: building ORM objects was most of a big batch's cost.
_STUDIES = (
    sa_select(
        col(CarrierStudy.carrier_id),
        col(CarrierStudy.instance_count),
        col(Study.study_uid),
        col(Study.study_date),
        col(Study.modalities),
        col(Study.accession_number),
    )
    .join(Study, col(Study.id) == col(CarrierStudy.study_id))
    .where(col(CarrierStudy.carrier_id).in_(bindparam("ids", expanding=True)))
    .order_by(col(Study.study_date), col(Study.study_uid))
)


def snapshots(*, session: Session, carriers: list[Carrier]) -> dict[int, Snapshot]:
    """Load the snapshots of many carriers with a fixed number of queries, not some per carrier
    (a 500-read inventory batch must not cost 5,000 queries)."""
    ids = [c.id for c in carriers if c.id is not None]
    if not ids:
        return {}
    held = {c.id: c for c in carriers}
    found: dict[int, Snapshot] = {}
    for carrier_id, *facts in session.execute(_FACTS, {"keys": ids}):
        found[carrier_id] = _snapshot(held[carrier_id], *facts)
    _complete(session, found)
    return found


def snapshots_by_tag(*, session: Session, uids: list[str]) -> dict[str, Snapshot]:
    """The snapshots of the carriers whose active tag has one of these UIDs, by UID: the
    carriers come with them, one statement fewer than tags.service.carriers_of then
    :func:`snapshots` (a scan runs this for every read)."""
    if not uids:
        return {}
    by_uid: dict[str, Snapshot] = {}
    for uid, *row in session.execute(_FACTS_BY_TAG, {"keys": uids}):
        by_uid[uid] = _snapshot(*row)
    _complete(session, {id_of(snap.carrier): snap for snap in by_uid.values()})
    return by_uid


def snapshots_found(
    *, session: Session, query: Select[Any], params: dict[str, Any]
) -> list[Snapshot]:
    """The snapshots of the carriers a :func:`snapshots_query` finds, in its order: finding
    the carriers and their facts is one statement (a lookup runs this on every call)."""
    found: dict[int, Snapshot] = {}
    # A row per carrier: a carrier has at most one open loan (uq_loan_open_per_carrier).
    for row in session.execute(query, params):
        snap = _snapshot(*row)
        found[id_of(snap.carrier)] = snap
    _complete(session, found)
    return list(found.values())


def _complete(session: Session, found: dict[int, Snapshot]) -> None:
    """Add the transfer of each carrier in transit, and every carrier's studies."""
    ids = list(found)
    if not ids:
        return
    moving = [i for i in ids if found[i].carrier.status == CarrierStatus.IN_TRANSIT]
    if moving:
        transfers = (
            select(Transfer, TransferItem, Location)
            .join(TransferItem, col(TransferItem.transfer_id) == col(Transfer.id))
            .join(Location, col(Location.id) == col(Transfer.to_location_id))
            .where(col(TransferItem.carrier_id).in_(moving), col(TransferItem.closed_at).is_(None))
        )
        for transfer, item, destination in session.exec(transfers):
            snap = found[item.carrier_id]
            snap.transfer, snap.destination = transfer, destination
    # On the connection (Session.execute adds a third or more: tests.bench.bench_statements);
    # the statement before this one has flushed whatever the session held.
    studies = session.connection().execute(_STUDIES, {"ids": ids})
    for carrier_id, count, study_uid, study_date, modalities, accession in studies:
        found[carrier_id].studies.append(
            StudyBrief(
                study_uid=study_uid,
                study_date=study_date,
                modalities=modalities,
                accession_number=accession,
                instance_count=count,
            )
        )


def snapshot(*, session: Session, carrier: Carrier) -> Snapshot:
    return snapshots(session=session, carriers=[carrier])[id_of(carrier)]


def state_sentence(snap: Snapshot, *, today: date) -> str:
    """Why a carrier is where it is, in one sentence a clerk can read out. ``today`` is the
    archive's day (app.core.time.local_today): a loan is overdue counted from it."""
    return str(state_phrase(snap, today=today))


def state_phrase(snap: Snapshot, *, today: date) -> Phrase:
    """:func:`state_sentence`, to be said in a page's language."""
    who = name_phrase(snap.carrier)
    status = CarrierStatus(snap.carrier.status)
    if status is CarrierStatus.CHECKED_OUT and snap.loan is not None:
        due = date_phrase(snap.loan.due_on, today=today)
        late = (today - snap.loan.due_on).days
        if snap.borrower is None:
            return Phrase("{who} is already lent to a borrower until {due}.", who=who, due=due)
        lent = Phrase(
            "{who} is already lent to {holder} until {due}.",
            who=who, holder=snap.borrower.name, due=due,
        )
        if late <= 0:
            return lent
        overdue = (
            Phrase("It is overdue by {late} day.", late=late)
            if late == 1
            else Phrase("It is overdue by {late} days.", late=late)
        )
        return Phrase("{lent} {overdue}", lent=lent, overdue=overdue)
    if status is CarrierStatus.IN_TRANSIT and snap.destination is not None:
        return Phrase(
            "{who} is in transit to {place} and must be received there first.",
            who=who, place=snap.destination.path,
        )
    where = snap.place.path
    template = {
        CarrierStatus.REGISTERED: N_("{who} is registered but not yet put in storage."),
        CarrierStatus.IN_STORAGE: N_("{who} is in storage at {where}."),
        CarrierStatus.CHECKED_OUT: N_("{who} is lent out."),
        CarrierStatus.IN_TRANSIT: N_("{who} is in transit."),
        CarrierStatus.MISSING: N_("{who} is reported missing."),
        CarrierStatus.FOUND: N_("{who} was found at {where} and is not yet back in storage."),
        CarrierStatus.RETIRED: N_("{who} is retired."),
        CarrierStatus.DESTROYED: N_("{who} was destroyed."),
    }[status]
    return Phrase(template, who=who, where=where)


def _place(location: Location) -> PlacePublic:
    return PlacePublic(code=location.code, path=location.path)


def public_view(snap: Snapshot, *, today: date) -> CarrierPublic:
    """``today``: the archive's day, which ``holder.overdue`` is judged against."""
    carrier, loan, transfer = snap.carrier, snap.loan, snap.transfer
    holder = None
    if loan is not None:
        holder = HolderPublic(
            borrower=snap.borrower.name if snap.borrower else "?",
            department=snap.borrower.department if snap.borrower else None,
            purpose=loan.purpose,
            since=loan.out_at,
            due_on=loan.due_on,
            overdue=loan.due_on < today,
        )
    transit = None
    if transfer is not None and snap.destination is not None:
        transit = TransitPublic(
            transfer_id=id_of(transfer),
            to=_place(snap.destination),
            seal_number=transfer.seal_number,
            expected_on=transfer.expected_on,
        )
    tag = snap.tag
    return CarrierPublic(
        label=carrier.label,
        kind=carrier.kind,
        status=carrier.status,
        home=_place(snap.home),
        location=_place(snap.place),
        tag=TagPublic(uid=tag.uid, technology=tag.technology, tag_type=tag.tag_type)
        if tag
        else None,
        set_number=carrier.set_number,
        set_total=carrier.set_total,
        set_key=carrier.set_key,
        encrypted=carrier.encrypted,
        lto_barcode=carrier.lto_barcode,
        cm_serial=carrier.cm_serial,
        legal_hold=carrier.legal_hold,
        holder=holder,
        transit=transit,
        last_seen_at=carrier.last_seen_at,
        studies=snap.studies,
    )


def to_public(*, session: Session, carrier: Carrier, today: date) -> CarrierPublic:
    return public_view(snapshot(session=session, carrier=carrier), today=today)


def public_views(
    *, session: Session, carriers: list[Carrier], today: date
) -> list[CarrierPublic]:
    """The public views of a page of carriers, loaded together (one query per kind of fact)."""
    snaps = snapshots(session=session, carriers=carriers)
    return [public_view(snaps[id_of(c)], today=today) for c in carriers]


def list_carriers(
    *, session: Session, status: CarrierStatus | None, location: str | None, offset: int, limit: int
) -> tuple[list[Carrier], int]:
    query = select(Carrier)
    if status is not None:
        query = query.where(Carrier.status == status.value)
    if location is not None:
        place = location_service.get_by_code(session=session, code=location)
        query = query.where(Carrier.current_location_id == place.id)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(query.order_by(col(Carrier.label)).offset(offset).limit(limit))
    return list(rows), total


def set_parts(*, session: Session, carrier: Carrier) -> list[Carrier]:
    """The other carriers of the carrier's set, in part order (none if it names no set)."""
    if carrier.set_key is None:
        return []
    query = (
        select(Carrier)
        .where(Carrier.set_key == carrier.set_key, Carrier.id != carrier.id)
        .order_by(col(Carrier.set_number), col(Carrier.label))
    )
    return list(session.exec(query))
