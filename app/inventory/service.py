"""Inventory campaigns: reads placed on the shelf set before them, reconciled against the record.

A read is stored once under its event id with the class it got, so a device that delivers it
again (an offline phone, an agent's outbox) gets the same answer and changes nothing. Reads are
placed by their read time, not their arrival: a session's shelf for a carrier read is the latest
location read of that session at or before it, so a backlog synced late lands where it was taken.
A carrier's sighting in a campaign is its latest read; duplicates in a session count once.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, null, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.carriers import service as carrier_service
from app.carriers.models import Carrier
from app.carriers.schemas import CarrierStatus
from app.core.bulk import Bulk, among
from app.core.config import Settings
from app.core.errors import AppError, ConflictError, InvalidInputError, NotFoundError
from app.core.ids import id_of
from app.core.principal import Principal
from app.core.site_keys import keys_of
from app.core.time import utcnow
from app.core.validation import normalise_uid
from app.inventory import labels, reconcile
from app.inventory.models import Campaign, Sighting, SweepRead, SweepSession
from app.inventory.reconcile import (
    HELD_COLUMNS,
    Held,
    Recorded,
    campaign_counts,
    classify,
    expected_counts,
    seen_counts,
)
from app.inventory.schemas import (
    CampaignCreate,
    CampaignPublic,
    Close,
    CloseSummary,
    InventoryRead,
    ReadClass,
    ReadResults,
    Report,
    ReportItem,
    Resolve,
    ShelfProgress,
)
from app.inventory.tree import Tree
from app.locations.models import Location
from app.tags.models import Tag
from app.users.models import User
from readers.carrier_label import LabelCheck

# The tables under the models: batches are written with Core statements compiled once and run
# as one driver executemany each (app.core.bulk), not the ORM's bulk operations.
SIGHTINGS: Table = Sighting.__table__  # type: ignore[attr-defined]
READS: Table = SweepRead.__table__  # type: ignore[attr-defined]
READ_COLUMNS = (
    "event_id",
    "campaign_id",
    "session_id",
    "read_at",
    "received_at",
    "tag_uid",
    "label",
    "shelf_id",
    "carrier_id",
    "read_class",
    "duplicate",
    "message",
)
_INSERT_READS = Bulk(READS, READ_COLUMNS)
SIGHTING_COLUMNS = ("campaign_id", "carrier_id", "shelf_id", "read_at", "session_id", "read_class")
_INSERT_SIGHTINGS = Bulk(SIGHTINGS, SIGHTING_COLUMNS)
_MOVE_SIGHTINGS = Bulk(
    SIGHTINGS,
    SIGHTING_COLUMNS,
    lambda v: update(SIGHTINGS)
    .where(SIGHTINGS.c.campaign_id == v.c.campaign_id)
    .where(SIGHTINGS.c.carrier_id == v.c.carrier_id)
    .values(
        shelf_id=v.c.shelf_id,
        read_at=v.c.read_at,
        session_id=v.c.session_id,
        read_class=v.c.read_class,
        resolution=null(),
        resolved_at=null(),
    ),
)

# Answers, one sentence each; never a patient's data (a typed patient ID is not echoed).
SAY = {
    ReadClass.FOUND: "{label} is on its shelf.",
    ReadClass.MISPLACED: "{label} belongs on {expected}: put it back, or make this its home.",
    ReadClass.UNEXPECTED: "The record says {label} is {status}, yet it is here: correct it.",
    ReadClass.UNKNOWN: "Tag {uid} is on no registered carrier: register it at a desk.",
    ReadClass.SHELF: "Shelf: {path}.",
    ReadClass.NO_SHELF: "Read a shelf tag or choose a shelf first: this read was not placed.",
    ReadClass.OUT_OF_SCOPE: "{path} is outside this campaign ({scope}).",
    ReadClass.ALTERED: "The label on this tag was edited or copied from another tag: "
    "do not trust it, set the carrier aside and report it.",
}
STATUS_WORDS = {
    CarrierStatus.REGISTERED: "registered but never stored",
    CarrierStatus.CHECKED_OUT: "lent out",
    CarrierStatus.IN_TRANSIT: "in transit",
    CarrierStatus.MISSING: "missing",
    CarrierStatus.FOUND: "found but not yet stored",
    CarrierStatus.RETIRED: "retired",
    CarrierStatus.DESTROYED: "destroyed",
    CarrierStatus.IN_STORAGE: "in storage",
}


def create_campaign(
    *, session: Session, principal: Principal, campaign_in: CampaignCreate
) -> Campaign:
    if campaign_in.ends_on < campaign_in.starts_on:
        raise InvalidInputError("A campaign ends on or after the day it starts.")
    scope = session.exec(select(Location).where(Location.code == campaign_in.scope)).first()
    if scope is None:
        raise NotFoundError("There is no location with that code.")
    campaign = Campaign(
        name=campaign_in.name,
        scope_location_id=id_of(scope),
        starts_on=campaign_in.starts_on,
        ends_on=campaign_in.ends_on,
        owner_id=principal.user_id,
    )
    session.add(campaign)
    session.flush()
    return campaign


def get_campaign(*, session: Session, campaign_id: int, for_update: bool = False) -> Campaign:
    query = select(Campaign).where(Campaign.id == campaign_id)
    campaign = session.exec(query.with_for_update() if for_update else query).first()
    if campaign is None:
        raise NotFoundError("There is no inventory campaign with that number.")
    return campaign


def list_campaigns(*, session: Session) -> list[Campaign]:
    query = select(Campaign).order_by(col(Campaign.closed_at).is_not(None), col(Campaign.id).desc())
    return list(session.exec(query))


def require_open(campaign: Campaign) -> None:
    if campaign.closed_at is not None:
        raise ConflictError(
            "The campaign {name!r} is closed: start a new one to sweep again.", name=campaign.name
        )


def to_public(
    *, session: Session, campaign: Campaign, counts: dict[str, int] | None = None
) -> CampaignPublic:
    scope = session.get(Location, campaign.scope_location_id)
    owner = session.get(User, campaign.owner_id) if campaign.owner_id else None
    return CampaignPublic(
        id=id_of(campaign),
        name=campaign.name,
        scope=scope.code if scope else "",
        scope_path=scope.path if scope else "",
        starts_on=campaign.starts_on,
        ends_on=campaign.ends_on,
        owner=owner.display_name if owner else "system",
        closed_at=campaign.closed_at,
        counts=counts if counts is not None else campaign_counts(session, campaign),
    )


def report(*, session: Session, campaign_id: int) -> Report:
    campaign = get_campaign(session=session, campaign_id=campaign_id)
    public = to_public(session=session, campaign=campaign, counts={})  # the report counts
    return reconcile.report(session=session, campaign=campaign, public=public)


report_csv = reconcile.report_csv


def resolve(
    *, session: Session, principal: Principal, campaign_id: int, resolve_in: Resolve, today: date
) -> ReportItem:
    """``today``: the archive's day, for the custody move's checks (app.custody.service)."""
    campaign = get_campaign(session=session, campaign_id=campaign_id, for_update=True)
    require_open(campaign)
    return reconcile.resolve(
        session=session, principal=principal, campaign=campaign, resolve_in=resolve_in,
        today=today,
    )


def close(
    *, session: Session, principal: Principal, campaign_id: int, close_in: Close
) -> CloseSummary:
    campaign = get_campaign(session=session, campaign_id=campaign_id, for_update=True)
    require_open(campaign)
    counts, missing = reconcile.close(
        session=session, principal=principal, campaign=campaign, close_in=close_in
    )
    return CloseSummary(
        campaign=to_public(session=session, campaign=campaign, counts=counts),
        changed=len(missing),
        reported_missing=missing,
    )


# -- ingest ---------------------------------------------------------------------------------
#
# A batch is set-based: one query per kind of thing its reads name (stored event ids, sweep
# sessions, tags, labels, location tags, the location tree, the sessions' shelf reads, the
# carriers' sightings), the classes worked out in Python, then one executemany per table
# written. The answer is built only after all of it; the request's commit makes it durable.


@dataclass
class _Fresh:
    """A read not stored before, on its way to a row."""

    read: InventoryRead
    event_id: str
    session_id: int
    read_class: ReadClass = ReadClass.REJECTED
    message: str = ""
    label: str | None = None
    tag_uid: str | None = None
    carrier: Held | None = None
    shelf_id: int | None = None
    duplicate: bool = False


@dataclass
class _Batch:
    """What a batch's reads name, loaded with a fixed number of queries."""

    tree: Tree
    campaign_id: int
    scope_id: int
    carriers_by_uid: dict[str, Held]
    carriers_by_label: dict[str, Held]
    places_by_uid: dict[str, int]
    keys: dict[int, bytes]
    # Per session: the shelf reads' (time, shelf id), in time order.
    timelines: dict[int, list[tuple[datetime, int]]] = field(default_factory=dict)
    # The campaign's sightings of the batch's carriers: carrier id -> (read time, session id).
    sightings: dict[int, tuple[datetime, int | None]] = field(default_factory=dict)
    # The carriers whose sightings were looked up (with one or not).
    looked_up: set[int] = field(default_factory=set)


def ingest(
    *,
    session: Session,
    principal: Principal,
    campaign_id: int,
    reads: list[InventoryRead],
    settings: Settings,
) -> ReadResults:
    """Store and classify a batch of reads; answer each with its class, and the progress of
    the shelf the batch's last session is on."""
    # The campaign's row lock serialises batches of one campaign on PostgreSQL (SQLite's
    # BEGIN IMMEDIATE already does): two copies of one read never race past the check below.
    campaign = get_campaign(session=session, campaign_id=campaign_id, for_update=True)
    require_open(campaign)
    now = utcnow()
    event_ids = [str(r.event_id) for r in reads]
    stored = _stored(session, event_ids)
    session_keys = [str(r.session) for r in reads]
    sessions = _sessions(session, principal, campaign, reads, now)
    # Answers as plain dicts, validated into ReadResults in one pydantic-core call at the end
    # (building 500 models one by one in Python costs more than the whole check).
    results: dict[str, dict[str, Any]] = dict(stored)
    fresh: list[_Fresh] = []
    for read, event_id, key in zip(reads, event_ids, session_keys, strict=True):
        if event_id in results:
            continue  # stored before, or repeated in this batch
        fresh.append(_Fresh(read, event_id, id_of(sessions[key])))
        results[event_id] = _PENDING
    tree: Tree | None = None
    if fresh:
        batch = _load(session, campaign, fresh, settings)
        tree = batch.tree
        _place(session, batch, fresh)
        _store(session, campaign, batch, fresh, now)
        for item in fresh:
            results[item.event_id] = _answer(item, tree)
        _note_sessions(session, sessions.values(), fresh, batch)
    answers = [results[event_id] for event_id in event_ids]
    counts: dict[str, int] = {}
    for answer in answers:
        counts[answer["read_class"]] = counts.get(answer["read_class"], 0) + 1
    last = sessions[session_keys[-1]]
    return ReadResults.model_validate(
        {
            "counts": counts,
            "results": answers,
            "shelf": shelf_progress(session, campaign, last.shelf_id, tree),
            "received_at": now,
        }
    )


# Taken by a fresh read's event id until its answer is known.
_PENDING: dict[str, Any] = {}


def _stored(session: Session, event_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The answers reads already stored got, by event id."""
    reads = READS.c
    query = (
        sa_select(
            reads.event_id,
            reads.read_class,
            reads.duplicate,
            reads.label,
            reads.message,
            col(Location.code),
        )
        .join(Location.__table__, col(Location.id) == reads.shelf_id, isouter=True)  # type: ignore[attr-defined]
        .where(among(session, reads.event_id, event_ids))
    )
    return {
        event_id: {
            "event_id": event_id,
            "read_class": read_class,
            "duplicate": bool(duplicate),
            "label": label,
            "shelf": code,
            "message": message,
            "replayed": True,
        }
        for event_id, read_class, duplicate, label, message, code in session.execute(query)
    }


def _sessions(
    session: Session,
    principal: Principal,
    campaign: Campaign,
    reads: list[InventoryRead],
    now: datetime,
) -> dict[str, SweepSession]:
    """The batch's sweep sessions by UUID; a UUID not seen before starts a session."""
    wanted = {str(r.session): r for r in reversed(reads)}  # the first read of each
    found = {
        s.uuid: s
        for s in session.exec(select(SweepSession).where(col(SweepSession.uuid).in_(wanted)))
    }
    for uuid, sweep in found.items():
        if sweep.campaign_id != campaign.id:
            raise ConflictError(
                "Sweep session {uuid} belongs to another campaign: start a new sweep.", uuid=uuid
            )
    for uuid, first in wanted.items():
        if uuid not in found:
            found[uuid] = SweepSession(
                uuid=uuid,
                campaign_id=id_of(campaign),
                user_id=principal.user_id,
                station_id=principal.station_id,
                device=first.device,
                started_at=now,
                last_read_at=first.read_at,
            )
            session.add(found[uuid])
    session.flush()
    return found


def _load(session: Session, campaign: Campaign, fresh: list[_Fresh], settings: Settings) -> _Batch:
    for item in fresh:
        if item.read.tag_uid is not None:
            try:
                item.tag_uid = normalise_uid(item.read.tag_uid, item.read.technology)
            except AppError as exc:
                item.message = f"Unreadable tag: {exc.message}"
    uids = sorted({i.tag_uid for i in fresh if i.tag_uid})
    wanted_labels = sorted({i.read.label for i in fresh if i.read.label})
    by_uid: dict[str, Held] = {}
    places: dict[str, int] = {}
    if uids:
        by_uid = {
            row[-1]: Held(*row[:-1])
            for row in session.execute(
                sa_select(*HELD_COLUMNS, col(Tag.uid))
                .join(Carrier, col(Carrier.tag_id) == col(Tag.id))
                .where(among(session, col(Tag.uid), uids))
            )
        }
        places = {
            uid: place_id
            for uid, place_id in session.execute(
                sa_select(col(Location.tag_uid), col(Location.id)).where(
                    among(session, col(Location.tag_uid), uids)
                )
            )
            if uid is not None and place_id is not None
        }
    by_label: dict[str, Held] = {}
    if wanted_labels:
        by_label = {
            row[1]: Held(*row)
            for row in session.execute(
                sa_select(*HELD_COLUMNS).where(among(session, col(Carrier.label), wanted_labels))
            )
        }
    batch = _Batch(
        tree=Tree.load(session),
        campaign_id=id_of(campaign),
        scope_id=campaign.scope_location_id,
        carriers_by_uid=by_uid,
        carriers_by_label=by_label,
        places_by_uid=places,
        keys=keys_of(settings.site_keys_file),
    )
    touched = sorted({i.session_id for i in fresh})
    shelf_reads = session.exec(
        select(SweepRead.session_id, SweepRead.read_at, SweepRead.shelf_id)
        .where(col(SweepRead.session_id).in_(touched))
        .where(SweepRead.read_class == ReadClass.SHELF.value)
    )
    for session_id, read_at, shelf_id in shelf_reads:
        assert shelf_id is not None  # a shelf read always names its shelf
        batch.timelines.setdefault(session_id, []).append((read_at, shelf_id))
    return batch


def _place(session: Session, batch: _Batch, fresh: list[_Fresh]) -> None:
    """Say what each read is; location reads first, so a carrier read in the same batch is
    placed on a shelf read before it in time even when it came after it in the batch."""
    for item in fresh:
        _identify(item, batch)
    for item in fresh:
        if item.read_class is ReadClass.SHELF and item.shelf_id is not None:
            bisect.insort(
                batch.timelines.setdefault(item.session_id, []), (item.read.read_at, item.shelf_id)
            )
    carriers = [i for i in fresh if i.carrier is not None and i.read_class is not ReadClass.ALTERED]
    for item in carriers:
        item.shelf_id = _shelf_at(batch.timelines.get(item.session_id, []), item.read.read_at)
    _mark_duplicates(session, batch, fresh)
    for item in carriers:
        assert item.carrier is not None
        if item.shelf_id is None:
            item.read_class, item.message = ReadClass.NO_SHELF, SAY[ReadClass.NO_SHELF]
            continue
        item.read_class = classify(item.carrier, item.shelf_id, batch.tree)
        item.message = _say(item.read_class, item.carrier, batch.tree)


def _identify(item: _Fresh, batch: _Batch) -> None:
    """Carrier, shelf, unknown tag or bad read; the label check for a tag read with NDEF."""
    read, tree = item.read, batch.tree
    if item.message:  # the UID did not parse
        return
    place_id: int | None = None
    if read.location is not None:
        place = tree.by_code.get(read.location)
        if place is None:
            item.message = "There is no location with that code."
            return
        place_id = place.id
    elif item.tag_uid is not None and item.tag_uid in batch.places_by_uid:
        place_id = batch.places_by_uid[item.tag_uid]
    if place_id is not None:
        item.shelf_id = place_id
        if tree.within(place_id, batch.scope_id):
            item.read_class = ReadClass.SHELF
            item.message = SAY[ReadClass.SHELF].format(path=tree.path(place_id))
        else:
            item.read_class = ReadClass.OUT_OF_SCOPE
            item.message = SAY[ReadClass.OUT_OF_SCOPE].format(
                path=tree.path(place_id), scope=tree.path(batch.scope_id)
            )
        return
    if read.label is not None:
        item.carrier = batch.carriers_by_label.get(read.label)
        if item.carrier is None:
            item.message = "No carrier has that label: check it and read it again."
            return
    else:
        assert item.tag_uid is not None
        item.carrier = batch.carriers_by_uid.get(item.tag_uid)
        if read.records and _altered(read, item.tag_uid, batch.keys):
            item.read_class, item.message = ReadClass.ALTERED, SAY[ReadClass.ALTERED]
            return
        if item.carrier is None:
            item.read_class = ReadClass.UNKNOWN
            item.message = SAY[ReadClass.UNKNOWN].format(uid=item.tag_uid)
            return
    item.label = item.carrier.label


def _altered(read: InventoryRead, uid: str, keys: dict[int, bytes]) -> bool:
    """The tag carries our label and it does not verify (edited, or copied onto this tag)."""
    reading = labels.check(read.records, uid=uid, keys=keys)
    return reading.check is LabelCheck.ALTERED


def _shelf_at(timeline: list[tuple[datetime, int]], read_at: datetime) -> int | None:
    """The shelf set by the latest location read at or before ``read_at``."""
    at = bisect.bisect_right(timeline, (read_at, float("inf")))
    return timeline[at - 1][1] if at else None


def _mark_duplicates(session: Session, batch: _Batch, fresh: list[_Fresh]) -> None:
    """A tag read again in the same session counts once: later copies are duplicates.

    A carrier placed before in the campaign has a sighting, which names the session of its
    latest read; the stored reads are searched only for carriers some other session of the
    batch may have read too (never for the carriers the campaign had not seen yet)."""
    sessions = sorted({i.session_id for i in fresh})
    # Only a read placed on a shelf counts; one before any shelf was not counted at all.
    placed = [i for i in fresh if i.carrier is not None and i.shelf_id is not None]
    readers: dict[int, set[int]] = {}
    for item in placed:
        assert item.carrier is not None
        readers.setdefault(item.carrier.id, set()).add(item.session_id)
    unknown = sorted({i.tag_uid for i in fresh if i.read_class is ReadClass.UNKNOWN and i.tag_uid})
    before: set[tuple[int, str]] = set()
    if readers:
        batch.looked_up = set(readers)
        seen = sa_select(SIGHTINGS.c.carrier_id, SIGHTINGS.c.read_at, SIGHTINGS.c.session_id)
        batch.sightings = {
            carrier_id: (read_at, session_id)
            for carrier_id, read_at, session_id in session.execute(
                seen.where(SIGHTINGS.c.campaign_id == batch.campaign_id).where(
                    among(session, SIGHTINGS.c.carrier_id, sorted(readers))
                )
            )
        }
        search: list[int] = []
        for carrier_id, (_, session_id) in batch.sightings.items():
            if session_id is not None:
                before.add((session_id, f"c{carrier_id}"))
            if readers[carrier_id] - {session_id}:
                search.append(carrier_id)
        if search:
            query = sa_select(READS.c.session_id, READS.c.carrier_id).where(
                among(session, READS.c.session_id, sessions),
                among(session, READS.c.carrier_id, search),
                READS.c.read_class.in_([c.value for c in PLACED]),
            )
            before |= {(s, f"c{c}") for s, c in session.execute(query)}
    if unknown:
        by_tag = sa_select(READS.c.session_id, READS.c.tag_uid).where(
            among(session, READS.c.session_id, sessions),
            among(session, READS.c.tag_uid, unknown),
            READS.c.read_class == ReadClass.UNKNOWN.value,
        )
        before |= {(s, f"u{u}") for s, u in session.execute(by_tag)}
    for item in sorted(fresh, key=lambda i: i.read.read_at):
        if item.carrier is not None and item.shelf_id is not None:
            key = (item.session_id, f"c{item.carrier.id}")
        elif item.read_class is ReadClass.UNKNOWN:
            key = (item.session_id, f"u{item.tag_uid}")
        else:
            continue
        item.duplicate = key in before
        before.add(key)


def _say(read_class: ReadClass, carrier: Recorded, tree: Tree) -> str:
    return SAY[read_class].format(
        label=carrier.label,
        expected=tree.path(carrier.current_location_id),
        status=STATUS_WORDS[CarrierStatus(carrier.status)],
    )


def _store(
    session: Session, campaign: Campaign, batch: _Batch, fresh: list[_Fresh], now: datetime
) -> None:
    """The reads as rows, the sightings they move, the carriers' last-seen place."""
    # Reads stored before that a shelf read of this batch places anew (before the batch's own
    # rows are in the table: the query then reads only what was stored before).
    late = _replace_late(session, batch, fresh)
    _INSERT_READS.run(
        session,
        [
            (
                i.event_id,
                campaign.id,
                i.session_id,
                i.read.read_at,
                now,
                i.tag_uid,
                i.label,
                i.shelf_id,
                i.carrier.id if i.carrier else None,
                i.read_class.value,
                i.duplicate,
                i.message[:300],
            )
            for i in fresh
        ],
    )
    placed = late + [
        _Placed(i.carrier.id, i.shelf_id, i.read.read_at, i.session_id, i.read_class)
        for i in fresh
        if i.carrier is not None and i.shelf_id is not None and i.read_class in PLACED
    ]
    _move_sightings(session, batch, placed)


PLACED = (ReadClass.FOUND, ReadClass.MISPLACED, ReadClass.UNEXPECTED)


@dataclass(frozen=True, slots=True)
class _Placed:
    """A carrier read placed on a shelf: what its sighting follows."""

    carrier_id: int
    shelf_id: int
    read_at: datetime
    session_id: int
    read_class: ReadClass


def _replace_late(session: Session, batch: _Batch, fresh: list[_Fresh]) -> list[_Placed]:
    """A shelf read that arrives after carrier reads taken later than it (a device syncing
    late, out of order) moves them onto its shelf: reads are placed by read time."""
    since: dict[int, datetime] = {}
    for item in fresh:
        if item.read_class is ReadClass.SHELF:
            at = since.get(item.session_id)
            since[item.session_id] = min(at, item.read.read_at) if at else item.read.read_at
    placed: list[_Placed] = []
    for session_id, start in since.items():
        query = (
            select(SweepRead, Carrier)
            .join(Carrier, col(Carrier.id) == col(SweepRead.carrier_id))
            .where(SweepRead.session_id == session_id, col(SweepRead.read_at) >= start)
            .where(col(SweepRead.read_class).in_([*PLACED, ReadClass.NO_SHELF]))
        )
        timeline = batch.timelines[session_id]
        for row, carrier in session.exec(query):
            shelf_id = _shelf_at(timeline, row.read_at)
            if shelf_id == row.shelf_id or shelf_id is None:
                continue
            read_class = classify(carrier, shelf_id, batch.tree)
            row.shelf_id, row.read_class = shelf_id, read_class.value
            row.message = _say(read_class, carrier, batch.tree)
            session.add(row)
            placed.append(_Placed(id_of(carrier), shelf_id, row.read_at, session_id, read_class))
    return placed


def _move_sightings(session: Session, batch: _Batch, placed: list[_Placed]) -> None:
    """Each carrier's sighting follows its latest read in read time; so does its last-seen
    place, which never moves back (a late backlog must not undo a newer read)."""
    latest: dict[int, _Placed] = {}
    for item in placed:
        held = latest.get(item.carrier_id)
        if held is None or item.read_at >= held.read_at:
            latest[item.carrier_id] = item
    if not latest:
        return
    held_at = {carrier_id: at for carrier_id, (at, _) in batch.sightings.items()}
    # Reads stored before that a late shelf read placed anew may be of other carriers.
    others = sorted(set(latest) - batch.looked_up)
    if others:
        query = sa_select(SIGHTINGS.c.carrier_id, SIGHTINGS.c.read_at).where(
            SIGHTINGS.c.campaign_id == batch.campaign_id,
            among(session, SIGHTINGS.c.carrier_id, others),
        )
        for carrier_id, at in session.execute(query):
            held_at[carrier_id] = at
    new_rows: list[tuple[Any, ...]] = []
    changed: list[tuple[Any, ...]] = []
    for item in latest.values():
        row = (
            batch.campaign_id,
            item.carrier_id,
            item.shelf_id,
            item.read_at,
            item.session_id,
            item.read_class.value,
        )
        if item.carrier_id not in held_at:
            new_rows.append(row)
        elif item.read_at >= held_at[item.carrier_id]:
            changed.append(row)
    _INSERT_SIGHTINGS.run(session, new_rows)
    _MOVE_SIGHTINGS.run(session, changed)
    carrier_service.note_seen(
        session=session, seen=[(i.carrier_id, i.read_at, i.shelf_id) for i in latest.values()]
    )


def _answer(item: _Fresh, tree: Tree) -> dict[str, Any]:
    """A ReadResult's fields."""
    return {
        "event_id": item.event_id,
        "read_class": item.read_class.value,
        "duplicate": item.duplicate,
        "label": item.label,
        "shelf": tree.code(item.shelf_id),
        "message": item.message,
    }


def _note_sessions(
    session: Session, sweeps: Iterable[SweepSession], fresh: list[_Fresh], batch: _Batch
) -> None:
    """A session's shelf is the last location it read, in read time."""
    latest_read: dict[int, datetime] = {}
    for item in fresh:
        at = latest_read.get(item.session_id)
        latest_read[item.session_id] = max(at, item.read.read_at) if at else item.read.read_at
    for sweep in sweeps:
        if sweep.id in latest_read:
            sweep.last_read_at = max(sweep.last_read_at, latest_read[sweep.id])
        timeline = batch.timelines.get(id_of(sweep))
        if timeline:
            sweep.shelf_id = timeline[-1][1]
        session.add(sweep)
    session.flush()


def shelf_progress(
    session: Session, campaign: Campaign, shelf_id: int | None, tree: Tree | None = None
) -> ShelfProgress | None:
    """A shelf's carriers in storage, and how many of them the campaign has read."""
    if shelf_id is None:
        return None
    tree = tree or Tree.load(session)
    shelf = tree.by_id[shelf_id]
    places = tree.subtree(shelf_id)
    return ShelfProgress(
        code=shelf.code,
        path=shelf.path,
        expected=sum(expected_counts(session, places).values()),
        seen=sum(seen_counts(session, id_of(campaign), places).values()),
    )


def open_campaigns_covering(*, session: Session, location_id: int) -> list[Campaign]:
    """The open campaigns whose scope holds the place: where a shelf can be swept now."""
    open_ones = list(session.exec(select(Campaign).where(col(Campaign.closed_at).is_(None))))
    if not open_ones:
        return []
    tree = Tree.load(session)
    return [c for c in open_ones if tree.within(location_id, c.scope_location_id)]


def campaigns_of(*, session: Session, carrier_id: int) -> list[tuple[Campaign, Sighting, str]]:
    """The campaigns that saw a carrier, newest first: its sighting in each, and the path of
    the shelf it was read on."""
    query = (
        select(Campaign, Sighting, Location.path)
        .join(Sighting, col(Sighting.campaign_id) == col(Campaign.id))
        .join(Location, col(Location.id) == col(Sighting.shelf_id))
        .where(Sighting.carrier_id == carrier_id)
        .order_by(col(Sighting.read_at).desc())
    )
    return [(c, s, path) for c, s, path in session.exec(query)]

