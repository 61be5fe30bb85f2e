"""The custody log and inventory sightings as a GS1 EPCIS 2.0 JSON-LD document.

Every event is an ObjectEvent about one carrier, named by its public URI. The document is
built as text, a batch of events at a time, from database cursors that fetch in batches
(``yield_per``): a range over millions of events streams in flat memory. Only carriers,
places, times and business steps go out: no payload text, so no patient data.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from app.audit import service as audit_service
from app.audit.chain import canonical_json, format_time
from app.audit.models import CustodyEvent
from app.carriers.models import Carrier
from app.carriers.schemas import CarrierStatus
from app.core.config import Settings
from app.core.db import read_only
from app.core.errors import InvalidInputError
from app.core.principal import Principal
from app.core.time import as_utc, utcnow
from app.epcis.schemas import EPCIS_CONTEXT, EventFilter
from app.inventory import service as inventory_service
from app.inventory.models import Sighting
from app.inventory.schemas import ReadClass
from app.locations.models import Location
from readers.carrier_label import carrier_uri

# Rows fetched per round trip, and events per chunk of the answer.
BATCH = 1000

# CBV 2.0 section 7.2 (dispositions): the business condition a carrier is in after an event,
# by the status it has then.
DISPOSITIONS: dict[CarrierStatus, str] = {
    CarrierStatus.REGISTERED: "active",  # commissioned, not yet put away
    CarrierStatus.IN_STORAGE: "available",
    CarrierStatus.CHECKED_OUT: "unavailable",  # lent: not available to anybody else
    CarrierStatus.IN_TRANSIT: "in_transit",
    CarrierStatus.MISSING: "unknown",  # not "stolen": nobody knows what happened to it
    CarrierStatus.FOUND: "in_progress",  # back, waiting to be put away
    CarrierStatus.RETIRED: "inactive",
    CarrierStatus.DESTROYED: "destroyed",
}
# Statuses in which the carrier rests at the event's place afterwards: the place is then
# also the event's business location (EPCIS 2.0 section 7.3.4: where it is expected to be).
_AT_REST = frozenset(
    {CarrierStatus.REGISTERED, CarrierStatus.IN_STORAGE, CarrierStatus.FOUND, CarrierStatus.RETIRED}
)
# CBV 2.0 section 7.2: a legal hold blocks loans, dispatch and disposal until it is released,
# whatever the carrier's disposition does meanwhile: a persistent disposition.
_HOLD = "unavailable"


@dataclass(frozen=True)
class Step:
    """How one custody action is told in EPCIS: its action (EPCIS 2.0 section 7.4.2: ADD when
    the carrier comes into being, DELETE when it ends, OBSERVE otherwise), its CBV business
    step, and the status it leaves the carrier in (which gives the disposition)."""

    action: str
    biz_step: str | None
    after: CarrierStatus | None = None
    persistent: dict[str, list[str]] | None = None


# The custody actions exported (CBV 2.0 section 7.1, business steps); the other entries of
# the log (lookups, log reads, study links, requests, administration) are no physical event.
STEPS: dict[str, Step] = {
    "register": Step("ADD", "commissioning", CarrierStatus.REGISTERED),
    "label": Step("OBSERVE", "encoding"),
    "relabel": Step("OBSERVE", "encoding"),
    "seen": Step("OBSERVE", "inspecting"),
    "verify": Step("OBSERVE", "inspecting"),
    "store": Step("OBSERVE", "storing", CarrierStatus.IN_STORAGE),
    "check_out": Step("OBSERVE", "departing", CarrierStatus.CHECKED_OUT),
    "return": Step("OBSERVE", "receiving", CarrierStatus.IN_STORAGE),
    "dispatch": Step("OBSERVE", "shipping", CarrierStatus.IN_TRANSIT),
    "receive": Step("OBSERVE", "receiving", CarrierStatus.IN_STORAGE),
    # No business step of the CBV says "could not be found"; the disposition says it.
    "missing": Step("OBSERVE", None, CarrierStatus.MISSING),
    "found": Step("OBSERVE", "receiving", CarrierStatus.FOUND),
    "legal_hold": Step("OBSERVE", "holding", persistent={"set": [_HOLD]}),
    "release": Step("OBSERVE", None, persistent={"unset": [_HOLD]}),
    "retire": Step("OBSERVE", "decommissioning", CarrierStatus.RETIRED),
    "destroy": Step("DELETE", "destroying", CarrierStatus.DESTROYED),
    # The status it is left in is in the payload ("now").
    "inventory_result": Step("OBSERVE", "cycle_counting"),
}
# A campaign's sighting: the carrier counted on a shelf.
SIGHTING = Step("OBSERVE", "cycle_counting")
# CBV 2.0 section 7.2: the outcome of an inspection (a fixity check of the carrier's files).
_VERIFIED = {"success": "conformant", "failure": "non_conformant"}

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _utc(moment: datetime, *, end: bool) -> datetime:
    """In UTC; a bound at the very edge of the calendar stays at that edge."""
    try:
        return as_utc(moment)
    except OverflowError:
        return (datetime.max if end else datetime.min).replace(tzinfo=UTC)


def parse_bound(text: str, *, name: str, zone: ZoneInfo, end: bool) -> datetime:
    """A date range bound in UTC: an ISO 8601 time with its zone, or a day in the site's zone
    (the whole day: ``since`` from its start, ``until`` to its end)."""
    try:
        if _DAY.fullmatch(text):
            day = date.fromisoformat(text)
            if end and day == date.max:
                return datetime.max.replace(tzinfo=UTC)
            day += timedelta(days=1 if end else 0)
            return _utc(datetime(day.year, day.month, day.day, tzinfo=zone), end=end)
        moment = datetime.fromisoformat(text.upper()) if "T" in text.upper() else None
    except ValueError:
        moment = None
    if moment is not None and moment.tzinfo is not None:
        return _utc(moment, end=end)
    if moment is None or moment.tzinfo is None:
        raise InvalidInputError(
            "{name}: write a day (2026-03-01) or a time with its zone "
            "(2026-03-01T08:00:00Z).", name=name
        )
    return as_utc(moment)


def make_filter(
    *,
    session: Session,
    settings: Settings,
    carrier: str | None,
    campaign: int | None,
    since: str | None,
    until: str | None,
) -> EventFilter:
    """Check the filters and resolve them: a 404 for an unknown carrier or campaign."""
    if carrier is None and campaign is None and since is None and until is None:
        raise InvalidInputError(
            "Name a carrier, a campaign or a date range (since, until): "
            "the whole log is not exported at once."
        )
    zone = settings.zone
    start = parse_bound(since, name="since", zone=zone, end=False) if since else None
    stop = parse_bound(until, name="until", zone=zone, end=True) if until else None
    if start is not None and stop is not None and stop <= start:
        raise InvalidInputError("The date range ends before it starts: swap since and until.")
    return EventFilter(
        carrier_id=audit_service.carrier_id(session, label=carrier) if carrier else None,
        campaign_id=(
            inventory_service.get_campaign(session=session, campaign_id=campaign).id
            if campaign is not None
            else None
        ),
        since=start,
        until=stop,
    )


def log_export(session: Session, *, principal: Principal, event_filter: EventFilter) -> None:
    """An export reads the custody log, and reading the log is itself logged."""
    audit_service.append(
        session,
        principal=principal,
        action="log_read",
        carrier_id=event_filter.carrier_id,
        payload={
            "export": "epcis",
            "campaign_id": event_filter.campaign_id,
            "since": format_time(event_filter.since) if event_filter.since else None,
            "until": format_time(event_filter.until) if event_filter.until else None,
        },
    )


def document(engine: Engine, *, settings: Settings, event_filter: EventFilter) -> Iterator[str]:
    """The EPCIS document as chunks of JSON text: custody events in log order, then the
    sightings in read order. Opens its own read-only session, as it outlives the request's."""
    head = json.dumps(
        {
            "@context": EPCIS_CONTEXT,
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": format_time(utcnow()),
        }
    )
    yield head[:-1] + ', "epcisBody": {"eventList": ['
    names = _Names(settings)
    with Session(read_only(engine)) as session:
        events = _custody_events(session, event_filter, names)
        sightings = _sightings(session, event_filter, names)
        first = True
        for batch in _batches(itertools.chain(events, sightings)):
            yield ("" if first else ",") + ",".join(json.dumps(e) for e in batch)
            first = False
    yield "]}}"


class _Names:
    """Public URIs of carriers and places, and the site's time zone offset at a moment."""

    def __init__(self, settings: Settings) -> None:
        self.public_url = settings.PUBLIC_URL.rstrip("/")
        self.zone = settings.zone

    def carrier(self, label: str) -> str:
        return carrier_uri(self.public_url, label)

    def place(self, code: str) -> dict[str, str]:
        return {"id": f"{self.public_url}/locations/{code}"}

    def offset(self, moment: datetime) -> str:
        delta = as_utc(moment).astimezone(self.zone).utcoffset() or timedelta()
        minutes = int(delta.total_seconds()) // 60
        sign = "-" if minutes < 0 else "+"
        return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _event(
    names: _Names,
    *,
    event_id: str,
    step: Step,
    label: str,
    at: datetime,
    recorded: datetime | None,
    place: str | None,
    rests_there: bool,
    disposition: str | None,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": format_time(at),
        "eventTimeZoneOffset": names.offset(at),
        # RFC 6920 named information, as GS1's own examples write event IDs.
        "eventID": f"ni:///sha-256;{event_id}?ver=CBV2.0",
        "epcList": [names.carrier(label)],
        "action": step.action,
    }
    if recorded is not None:
        event["recordTime"] = format_time(recorded)
    if step.biz_step:
        event["bizStep"] = step.biz_step
    if disposition:
        event["disposition"] = disposition
    if step.persistent:
        event["persistentDisposition"] = step.persistent
    if place is not None:
        event["readPoint"] = names.place(place)
        if rests_there:
            event["bizLocation"] = names.place(place)
    return event


def _custody_events(
    session: Session, event_filter: EventFilter, names: _Names
) -> Iterator[dict[str, Any]]:
    # Six columns: more than SQLModel's typed select takes.
    query = (
        sa_select(
            col(CustodyEvent.action),
            col(CustodyEvent.recorded_at),
            col(CustodyEvent.payload),
            col(CustodyEvent.hash),
            col(Carrier.label),
            col(Location.code),
        )
        .join(Carrier, col(Carrier.id) == col(CustodyEvent.carrier_id))
        .outerjoin(Location, col(Location.id) == col(CustodyEvent.location_id))
        .where(col(CustodyEvent.action).in_(STEPS))
    )
    if event_filter.carrier_id is not None:
        query = query.where(col(CustodyEvent.carrier_id) == event_filter.carrier_id)
    if event_filter.campaign_id is not None:
        # The payload is canonical JSON (no spaces, sorted keys): the id ends at "," or "}".
        key = f'"campaign_id":{event_filter.campaign_id}'
        payload = col(CustodyEvent.payload)
        query = query.where(or_(payload.contains(key + ","), payload.contains(key + "}")))
    if event_filter.since is not None:
        query = query.where(col(CustodyEvent.recorded_at) >= event_filter.since)
    if event_filter.until is not None:
        query = query.where(col(CustodyEvent.recorded_at) < event_filter.until)
    query = query.order_by(col(CustodyEvent.seq)).execution_options(yield_per=BATCH)
    for action, recorded_at, payload, chain_hash, label, code in session.execute(query):
        step = STEPS[action]
        details = json.loads(payload) if step.after is None else {}
        after = step.after or _status(details.get("now"))
        disposition = DISPOSITIONS[after] if after else _VERIFIED.get(details.get("outcome", ""))
        yield _event(
            names,
            event_id=chain_hash,
            step=step,
            label=label,
            at=_event_time(action, recorded_at, details),
            recorded=recorded_at,
            place=code,
            rests_there=after in _AT_REST,
            disposition=disposition,
        )


def _status(value: Any) -> CarrierStatus | None:
    try:
        return CarrierStatus(value)
    except ValueError:
        return None


def _event_time(action: str, recorded_at: datetime, details: dict[str, Any]) -> datetime:
    """When it happened: a scan's read time, unless the station's clock was found wrong;
    else when it was logged."""
    if action == "seen" and "read_at" in details and not details.get("clock_wrong"):
        return datetime.fromisoformat(details["read_at"])
    return recorded_at


def _sightings(
    session: Session, event_filter: EventFilter, names: _Names
) -> Iterator[dict[str, Any]]:
    query = (
        sa_select(
            col(Sighting.campaign_id),
            col(Sighting.carrier_id),
            col(Sighting.shelf_id),
            col(Sighting.read_at),
            col(Carrier.label),
            col(Location.code),
        )
        .join(Carrier, col(Carrier.id) == col(Sighting.carrier_id))
        .join(Location, col(Location.id) == col(Sighting.shelf_id))
    )
    # The close records the carriers it did not see as sightings too: they are no event.
    query = query.where(col(Sighting.read_class) != ReadClass.NOT_SEEN.value)
    if event_filter.carrier_id is not None:
        query = query.where(col(Sighting.carrier_id) == event_filter.carrier_id)
    if event_filter.campaign_id is not None:
        query = query.where(col(Sighting.campaign_id) == event_filter.campaign_id)
    if event_filter.since is not None:
        query = query.where(col(Sighting.read_at) >= event_filter.since)
    if event_filter.until is not None:
        query = query.where(col(Sighting.read_at) < event_filter.until)
    query = query.order_by(
        col(Sighting.read_at), col(Sighting.campaign_id), col(Sighting.carrier_id)
    ).execution_options(yield_per=BATCH)
    for campaign_id, carrier_id, shelf_id, read_at, label, code in session.execute(query):
        # A sighting moves when the carrier is read again elsewhere: each place and time it
        # was counted at is its own event, with its own stable ID.
        seen = {
            "campaign_id": campaign_id,
            "carrier_id": carrier_id,
            "shelf_id": shelf_id,
            "read_at": format_time(read_at),
        }
        yield _event(
            names,
            event_id=hashlib.sha256(canonical_json(seen).encode()).hexdigest(),
            step=SIGHTING,
            label=label,
            at=read_at,
            recorded=None,
            place=code,
            rests_there=True,
            disposition=None,
        )


def _batches(events: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    # itertools.batched from Python 3.12 on; the service runs on 3.11 too.
    batch: list[dict[str, Any]] = []
    for event in events:
        batch.append(event)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
