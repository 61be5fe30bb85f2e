"""What a campaign found, shelf by shelf: classes, reports, corrections and the close.

A carrier in storage is expected on the place its record says (its current location); it is
"not seen" only when a shelf it is expected on was swept in this campaign and it was not read
anywhere in it. Shelves nobody swept say nothing about their carriers: closing a campaign over
part of the archive never marks the rest missing.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import date, timedelta
from typing import Any, NamedTuple, Protocol

from sqlmodel import Session, col, func, select

from app.audit import service as audit_service
from app.carriers.models import Carrier
from app.carriers.schemas import CarrierStatus
from app.core.errors import ConflictError, NotFoundError
from app.core.ids import id_of
from app.core.principal import Principal
from app.core.time import utcnow
from app.custody import schemas as custody_schemas
from app.custody import service as custody_service
from app.custody import transitions
from app.custody.transitions import Action
from app.inventory.models import Campaign, Sighting, SweepRead, SweepSession
from app.inventory.schemas import (
    CARRIER_CLASSES,
    CampaignPublic,
    Close,
    ReadClass,
    Report,
    ReportItem,
    Resolve,
    ResolveAction,
    ShelfReport,
    ShelfState,
    UnknownTag,
)
from app.inventory.tree import Tree

IN_STORAGE = CarrierStatus.IN_STORAGE.value
# A session whose last read is this recent is still sweeping its shelf.
SWEEPING = timedelta(minutes=30)
# The correction each unexpected state is offered (each one a logged custody event).
CORRECTION = {
    CarrierStatus.CHECKED_OUT.value: ResolveAction.RETURN,
    CarrierStatus.IN_TRANSIT.value: ResolveAction.RECEIVE,
    CarrierStatus.MISSING.value: ResolveAction.FOUND,
    CarrierStatus.REGISTERED.value: ResolveAction.STORE,
    CarrierStatus.FOUND.value: ResolveAction.STORE,
}


class Recorded(Protocol):
    """What the record says of a carrier: all a read's class depends on."""

    @property
    def label(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def current_location_id(self) -> int: ...


class Held(NamedTuple):
    """A carrier's record as a read needs it, loaded without the ORM (batches are large)."""

    id: int
    label: str
    status: str
    current_location_id: int


HELD_COLUMNS: tuple[Any, ...] = (
    Carrier.id,
    Carrier.label,
    Carrier.status,
    Carrier.current_location_id,
)


def classify(carrier: Recorded, shelf_id: int, tree: Tree) -> ReadClass:
    """A carrier read on ``shelf_id``: where the record expects it, elsewhere, or not at all."""
    if carrier.status != IN_STORAGE:
        return ReadClass.UNEXPECTED
    if tree.within(carrier.current_location_id, shelf_id):
        return ReadClass.FOUND
    return ReadClass.MISPLACED


def actions_for(read_class: ReadClass, status: str, resolution: str | None) -> list[ResolveAction]:
    if resolution is not None:
        return []
    if read_class is ReadClass.MISPLACED and status == IN_STORAGE:
        return [ResolveAction.PUT_BACK, ResolveAction.NEW_HOME]
    if read_class is ReadClass.UNEXPECTED and status in CORRECTION:
        return [CORRECTION[status]]
    return []


def expected_counts(session: Session, places: list[int]) -> dict[int, int]:
    """Carriers in storage per place, for the given places."""
    query = (
        select(Carrier.current_location_id, func.count())
        .where(Carrier.status == IN_STORAGE, col(Carrier.current_location_id).in_(places))
        .group_by(col(Carrier.current_location_id))
    )
    return dict(session.exec(query).all())


def seen_counts(session: Session, campaign_id: int, places: list[int]) -> dict[int, int]:
    """Of the carriers expected on the places, those this campaign read (anywhere) per place."""
    query = (
        select(Carrier.current_location_id, func.count())
        .join(Sighting, col(Sighting.carrier_id) == col(Carrier.id))
        .where(Sighting.campaign_id == campaign_id)
        .where(Carrier.status == IN_STORAGE, col(Carrier.current_location_id).in_(places))
        .group_by(col(Carrier.current_location_id))
    )
    return dict(session.exec(query).all())


class _Scope:
    """A campaign's shelves and which of them were swept, from its location reads."""

    def __init__(self, session: Session, campaign: Campaign) -> None:
        self.tree = Tree.load(session)
        root = campaign.scope_location_id
        self.places = self.tree.subtree(root)
        self.expected = expected_counts(session, self.places)
        self.shelves = sorted(
            set(self.tree.shelves(root)) | set(self.expected),
            key=lambda p: self.tree.by_id[p].path,
        )
        contexts = session.exec(
            select(SweepRead.shelf_id)
            .where(SweepRead.campaign_id == campaign.id)
            .where(SweepRead.read_class == ReadClass.SHELF.value)
            .distinct()
        ).all()
        self.swept = {s for s in self.shelves if any(self.tree.within(s, c) for c in contexts if c)}
        current: list[int] = []
        if campaign.closed_at is None:
            since = utcnow() - SWEEPING
            current = [
                s
                for s in session.exec(
                    select(SweepSession.shelf_id)
                    .where(SweepSession.campaign_id == campaign.id)
                    .where(col(SweepSession.last_read_at) >= since)
                ).all()
                if s is not None
            ]
        self.sweeping = {s for s in self.shelves if any(self.tree.within(s, c) for c in current)}

    def state(self, shelf_id: int) -> ShelfState:
        if shelf_id in self.sweeping:
            return ShelfState.IN_PROGRESS
        return ShelfState.SWEPT if shelf_id in self.swept else ShelfState.NOT_SWEPT


def _not_seen(session: Session, campaign: Campaign, scope: _Scope) -> list[Carrier]:
    """Carriers expected on a swept shelf that this campaign never read."""
    swept = sorted(scope.swept)
    if not swept:
        return []
    seen = select(Sighting.carrier_id).where(Sighting.campaign_id == campaign.id)
    query = (
        select(Carrier)
        .where(Carrier.status == IN_STORAGE, col(Carrier.current_location_id).in_(swept))
        .where(col(Carrier.id).not_in(seen))
        .order_by(col(Carrier.label))
    )
    return list(session.exec(query))


def campaign_counts(session: Session, campaign: Campaign) -> dict[str, int]:
    counts = dict.fromkeys((c.value for c in CARRIER_CLASSES), 0)
    query = (
        select(Sighting.read_class, func.count())
        .where(Sighting.campaign_id == campaign.id)
        .group_by(col(Sighting.read_class))
    )
    counts.update(dict(session.exec(query).all()))
    counts[ReadClass.UNKNOWN.value] = session.exec(
        select(func.count(func.distinct(SweepRead.tag_uid)))
        .where(SweepRead.campaign_id == campaign.id)
        .where(SweepRead.read_class == ReadClass.UNKNOWN.value)
    ).one()
    # Once closed, the carriers not seen have sightings of their own class (counted above).
    if campaign.closed_at is None:
        scope = _Scope(session, campaign)
        counts[ReadClass.NOT_SEEN.value] = len(_not_seen(session, campaign, scope))
    return counts


def report(*, session: Session, campaign: Campaign, public: CampaignPublic) -> Report:
    """Shelf by shelf; ``public``'s counts are replaced by the report's own."""
    scope = _Scope(session, campaign)
    tree = scope.tree
    items: dict[int, list[ReportItem]] = {}
    query = (
        select(Sighting, Carrier)
        .join(Carrier, col(Carrier.id) == col(Sighting.carrier_id))
        .where(Sighting.campaign_id == campaign.id)
        .order_by(col(Carrier.label))
    )
    for sighting, carrier in session.exec(query):
        read_class = ReadClass(sighting.read_class)
        place = (
            carrier.current_location_id if read_class is ReadClass.NOT_SEEN else sighting.shelf_id
        )
        items.setdefault(place, []).append(
            ReportItem(
                label=carrier.label,
                kind=carrier.kind,
                read_class=read_class,
                status=carrier.status,
                expected=tree.path(carrier.current_location_id)
                if carrier.status == IN_STORAGE
                else None,
                seen_on=None if read_class is ReadClass.NOT_SEEN else tree.path(sighting.shelf_id),
                read_at=None if read_class is ReadClass.NOT_SEEN else sighting.read_at,
                resolution=sighting.resolution,
                actions=[]
                if campaign.closed_at
                else actions_for(read_class, carrier.status, sighting.resolution),
            )
        )
    if campaign.closed_at is None:
        for carrier in _not_seen(session, campaign, scope):
            items.setdefault(carrier.current_location_id, []).append(
                ReportItem(
                    label=carrier.label,
                    kind=carrier.kind,
                    read_class=ReadClass.NOT_SEEN,
                    status=carrier.status,
                    expected=tree.path(carrier.current_location_id),
                    seen_on=None,
                    read_at=None,
                    resolution=None,
                    actions=[],
                )
            )
    shelf_ids = list(scope.shelves) + sorted(set(items) - set(scope.shelves))
    shelves = []
    for shelf_id in shelf_ids:
        listed = sorted(items.get(shelf_id, []), key=lambda i: i.label)
        counts = Counter(i.read_class.value for i in listed)
        shelves.append(
            ShelfReport(
                code=tree.code(shelf_id) or "",
                path=tree.path(shelf_id) or "",
                state=scope.state(shelf_id),
                expected=scope.expected.get(shelf_id, 0),
                counts={
                    c.value: counts.get(c.value, 0)
                    for c in CARRIER_CLASSES
                    if c is not ReadClass.UNKNOWN
                },
                items=listed,
            )
        )
    unknown = _odd_reads(session, campaign, ReadClass.UNKNOWN, tree)
    # The campaign's counts, from the report itself (every sighting and not-seen carrier is one
    # item of one shelf): not a second pass over the scope.
    totals = dict.fromkeys((c.value for c in CARRIER_CLASSES), 0)
    for shelf in shelves:
        for item in shelf.items:
            totals[item.read_class.value] += 1
    totals[ReadClass.UNKNOWN.value] = len(unknown)
    return Report(
        campaign=public.model_copy(update={"counts": totals}),
        shelves=shelves,
        unknown=unknown,
        altered=_odd_reads(session, campaign, ReadClass.ALTERED, tree),
    )


def _odd_reads(
    session: Session, campaign: Campaign, read_class: ReadClass, tree: Tree
) -> list[UnknownTag]:
    """Tags of one class (unknown, altered), each once, at its latest read."""
    query = (
        select(SweepRead.tag_uid, SweepRead.shelf_id, func.max(SweepRead.read_at))
        .where(SweepRead.campaign_id == campaign.id, SweepRead.read_class == read_class.value)
        .where(col(SweepRead.tag_uid).is_not(None))
        .group_by(col(SweepRead.tag_uid), col(SweepRead.shelf_id))
        .order_by(col(SweepRead.tag_uid))
    )
    latest: dict[str, UnknownTag] = {}
    for uid, shelf_id, read_at in session.exec(query):
        assert uid is not None
        if uid not in latest or read_at > latest[uid].read_at:
            latest[uid] = UnknownTag(tag_uid=uid, seen_on=tree.path(shelf_id), read_at=read_at)
    return list(latest.values())


CSV_COLUMNS = [
    "shelf",
    "shelf_state",
    "label",
    "kind",
    "class",
    "status",
    "expected",
    "seen_on",
    "read_at",
    "resolution",
]


def report_csv(report: Report) -> str:
    """One row per carrier in the report, then one per unknown or altered tag."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180 line ends
    writer.writerow(CSV_COLUMNS)
    for shelf in report.shelves:
        for item in shelf.items:
            writer.writerow(
                [
                    shelf.code,
                    shelf.state.value,
                    item.label,
                    item.kind,
                    item.read_class.value,
                    item.status,
                    item.expected or "",
                    item.seen_on or "",
                    item.read_at.isoformat() if item.read_at else "",
                    item.resolution or "",
                ]
            )
    for read_class, tags in (
        (ReadClass.UNKNOWN, report.unknown),
        (ReadClass.ALTERED, report.altered),
    ):
        for tag in tags:
            writer.writerow(
                [
                    "",
                    "",
                    "",
                    "",
                    read_class.value,
                    "",
                    "",
                    tag.seen_on or "",
                    tag.read_at.isoformat(),
                    f"tag {tag.tag_uid}",
                ]
            )
    return out.getvalue()


def resolve(
    *, session: Session, principal: Principal, campaign: Campaign, resolve_in: Resolve, today: date
) -> ReportItem:
    """Settle one carrier's finding with the custody move it offers; each is logged, with the
    campaign in its payload. ``today``: the archive's day (app.custody.service)."""
    query = (
        select(Sighting, Carrier)
        .join(Carrier, col(Carrier.id) == col(Sighting.carrier_id))
        .where(Sighting.campaign_id == campaign.id, Carrier.label == resolve_in.label)
    )
    found = session.exec(query).first()
    if found is None:
        raise NotFoundError("This campaign did not read that label.")
    sighting, carrier = found
    offered = actions_for(ReadClass(sighting.read_class), carrier.status, sighting.resolution)
    if resolve_in.action not in offered:
        words = ", ".join(a.value for a in offered) or "nothing"
        raise ConflictError(
            "{label} cannot be settled with {action} now (what it allows: {words}).",
            label=carrier.label, action=resolve_in.action.value, words=words,
        )
    tree = Tree.load(session)
    _correct(
        session,
        principal,
        carrier,
        resolve_in.action,
        tree.code(sighting.shelf_id) or "",
        tree,
        {"campaign_id": campaign.id, "resolution": resolve_in.action.value},
        today,
    )
    sighting.resolution, sighting.resolved_at = resolve_in.action.value, utcnow()
    session.add(sighting)
    session.flush()
    return ReportItem(
        label=carrier.label,
        kind=carrier.kind,
        read_class=ReadClass(sighting.read_class),
        status=carrier.status,
        expected=tree.path(carrier.current_location_id),
        seen_on=tree.path(sighting.shelf_id),
        read_at=sighting.read_at,
        resolution=sighting.resolution,
        actions=[],
    )


def _correct(
    session: Session,
    principal: Principal,
    carrier: Carrier,
    action: ResolveAction,
    shelf: str,
    tree: Tree,
    context: dict[str, object],
    today: date,
) -> None:
    """The custody moves that settle a finding; ``shelf`` is where the carrier was read."""
    label = carrier.label

    def store(code: str, *, home: bool = False) -> None:
        custody_service.store(
            session=session,
            principal=principal,
            label=label,
            store_in=custody_schemas.Store(location=code, home=home),
            today=today,
            context=context,
        )

    if action is ResolveAction.PUT_BACK:
        store(tree.code(carrier.current_location_id) or shelf)
    elif action is ResolveAction.NEW_HOME:
        store(shelf, home=True)
    elif action is ResolveAction.STORE:
        store(shelf)
    elif action is ResolveAction.RETURN:
        custody_service.return_carrier(
            session=session,
            principal=principal,
            label=label,
            return_in=custody_schemas.Return(location=shelf),
            today=today,
            context=context,
        )
    else:
        if action is ResolveAction.RECEIVE:
            transit = custody_service.open_transfer(session=session, carrier_id=id_of(carrier))
            if transit is None:
                raise ConflictError(
                    "{label} is in transit on no open transfer: record it found instead.",
                    label=label,
                )
            custody_service.receive(
                session=session,
                principal=principal,
                transfer_id=id_of(transit[0]),
                receive_in=custody_schemas.Receive(labels=[label]),
                today=today,
                context=context,
            )
        else:  # ResolveAction.FOUND
            custody_service.report_found(
                session=session,
                principal=principal,
                label=label,
                found_in=custody_schemas.Found(location=shelf),
                today=today,
                context=context,
            )
        # Received (at the transfer's destination) or found: now in storage where it was read.
        if carrier.status != IN_STORAGE or tree.code(carrier.current_location_id) != shelf:
            store(shelf)


def close(
    *, session: Session, principal: Principal, campaign: Campaign, close_in: Close
) -> tuple[dict[str, int], list[str]]:
    """Freeze the campaign: carriers not seen on swept shelves get a "not seen" sighting (and,
    when asked, are reported missing, one inventory-result event each), then one summary event.
    Answers the final counts and the labels reported missing."""
    audit_service.lock_head(session)
    scope = _Scope(session, campaign)
    not_seen = _not_seen(session, campaign, scope)
    now = utcnow()
    missing: list[str] = []
    entries: list[audit_service.Entry] = []
    for carrier in not_seen:
        session.add(
            Sighting(
                campaign_id=id_of(campaign),
                carrier_id=id_of(carrier),
                shelf_id=carrier.current_location_id,
                read_at=now,
                session_id=None,
                read_class=ReadClass.NOT_SEEN.value,
            )
        )
        if close_in.report_missing and _may_go_missing(carrier):
            entries.append(
                audit_service.Entry.about(
                    carrier,
                    action="inventory_result",
                    location_id=carrier.current_location_id,
                    payload={
                        "campaign_id": campaign.id,
                        "class": ReadClass.NOT_SEEN.value,
                        "was": carrier.status,
                        "now": CarrierStatus.MISSING.value,
                    },
                )
            )
            carrier.status = CarrierStatus.MISSING.value
            session.add(carrier)
            missing.append(carrier.label)
    counts = campaign_counts(session, campaign)
    counts[ReadClass.NOT_SEEN.value] = len(not_seen)
    entries.append(
        audit_service.Entry(
            action="inventory_closed",
            location_id=campaign.scope_location_id,
            payload={
                "campaign_id": campaign.id,
                "counts": counts,
                "swept": len(scope.swept),
                "reported_missing": len(missing),
            },
        )
    )
    session.flush()
    audit_service.append_many(session, principal=principal, entries=entries)
    campaign.closed_at, campaign.closed_by_id = now, principal.user_id
    session.add(campaign)
    session.flush()
    return counts, missing


def _may_go_missing(carrier: Carrier) -> bool:
    return transitions.state_allows(Action.MISSING, carrier.status) and transitions.hold_allows(
        Action.MISSING, carrier.legal_hold
    )
