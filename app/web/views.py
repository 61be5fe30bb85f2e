"""What the pages say about a carrier, in the reader's language, built from one snapshot.

The service's own sentences are English and serve the API; a page words the same facts through
the catalog, so a clerk reads them in Chinese or English.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from app.audit.models import CustodyEvent
from app.carriers import service as carrier_service
from app.carriers.models import Carrier
from app.carriers.schemas import CarrierStatus
from app.core.errors import N_
from app.core.time import local_date, local_today
from app.studies.models import CarrierStudy, Study
from app.web.i18n import format_date, gettext, ngettext

STATUS_NAMES: dict[str, str] = {
    CarrierStatus.REGISTERED: N_("registered"),
    CarrierStatus.IN_STORAGE: N_("in storage"),
    CarrierStatus.CHECKED_OUT: N_("lent out"),
    CarrierStatus.IN_TRANSIT: N_("in transit"),
    CarrierStatus.MISSING: N_("missing"),
    CarrierStatus.FOUND: N_("found"),
    CarrierStatus.RETIRED: N_("retired"),
    CarrierStatus.DESTROYED: N_("destroyed"),
}

ACTION_NAMES = {
    "register": N_("registered"),
    "label": N_("given a tag"),
    "store": N_("put in storage"),
    "check_out": N_("lent out"),
    "return": N_("returned"),
    "dispatch": N_("dispatched"),
    "receive": N_("received"),
    "seen": N_("seen at a reader"),
    "missing": N_("reported missing"),
    "found": N_("found"),
    "legal_hold": N_("put under legal hold"),
    "release": N_("released from legal hold"),
    "retire": N_("retired"),
    "destroy": N_("destroyed"),
    "verify": N_("verified"),
    "intake": N_("read in"),
    "relabel": N_("given a new tag"),
    "unlabel": N_("tag removed"),
    "link_studies": N_("studies linked"),
    "pacs_check": N_("checked against the PACS"),
    "study_read": N_("studies read"),
    "migrate": N_("migrated"),
    "lookup": N_("looked up"),
    "inventory": N_("inventoried"),
    "inventory_result": N_("state changed by an inventory's close"),
    "rehome": N_("given a new home shelf"),
    "request_created": N_("asked for"),
    "request_fulfilled": N_("lent to whoever asked"),
    "request_cancelled": N_("request cancelled"),
}


# Words the pages show for codes; N_ marks them for the catalog, the page translates them.
ROLE_NAMES = {
    "clerk": N_("clerk"),
    "clinician": N_("clinician"),
    "auditor": N_("auditor"),
    "admin": N_("administrator"),
}
STATION_KINDS = {
    "desk": N_("desk"),
    "verify": N_("verify station"),
    "handheld": N_("handheld"),
    "portal": N_("portal"),
}
QUERY_KINDS = {
    "auto": N_("anything"),
    "tag": N_("tag UID"),
    "label": N_("carrier label"),
    "study": N_("study UID"),
    "accession": N_("accession number"),
    "patient": N_("patient ID"),
}
# HL7 v3 PurposeOfUse codes (the default list; a site may configure others).
PURPOSE_NAMES = {
    "TREAT": N_("treatment"),
    "ETREAT": N_("emergency treatment"),
    "PATRQT": N_("patient request"),
    "HLEGAL": N_("legal"),
    "HOPERAT": N_("healthcare operations"),
    "HRESCH": N_("research"),
}


def term(names: dict[str, str], code: str) -> str:
    """A code's word in the reader's language (the code itself when it has none)."""
    return gettext(names[code]) if code in names else code


def status_name(status: str) -> str:
    return term(STATUS_NAMES, status)


def action_name(action: str) -> str:
    return term(ACTION_NAMES, action)


@dataclass
class StudyLine:
    study_date: date | None
    modalities: str
    accession: str | None
    patient_id: str | None
    instances: int


@dataclass
class HistoryLine:
    seq: int
    at: datetime
    action: str
    what: str
    where: str | None


@dataclass
class CarrierView:
    """Everything the desk card and the carrier page show about one carrier."""

    snap: carrier_service.Snapshot
    label: str
    kind: str
    status: str
    status_text: str
    where: str
    set_text: str | None
    overdue_days: int
    studies: list[StudyLine] = field(default_factory=list)
    history: list[HistoryLine] = field(default_factory=list)
    # The other parts of its set that are lent out, as "RAD0000027 (disc 3 of 3)".
    set_out: list[str] = field(default_factory=list)

    @property
    def legal_hold(self) -> bool:
        return self.snap.carrier.legal_hold


def where_words(
    snap: carrier_service.Snapshot, zone: ZoneInfo, since: datetime | None = None
) -> str:
    """Where the carrier is, in plain words. A carrier that is lent, in transit or missing
    never shows its shelf as where it is. Its dates are days in ``zone`` (the site's), as the
    custody log beside it shows its times."""
    status = CarrierStatus(snap.carrier.status)
    if status is CarrierStatus.CHECKED_OUT and snap.loan is not None:
        holder = snap.borrower.name if snap.borrower else "?"
        text = gettext(
            "Lent to %(holder)s since %(since)s, due %(due)s.",
            holder=holder,
            since=format_date(local_date(snap.loan.out_at, zone)),
            due=format_date(snap.loan.due_on),
        )
        late = (local_today(zone) - snap.loan.due_on).days
        if late > 0:
            text += " " + ngettext("Overdue by %(num)d day.", "Overdue by %(num)d days.", late)
        return text
    if status is CarrierStatus.IN_TRANSIT and snap.transfer is not None and snap.destination:
        text = gettext(
            "In transit to %(to)s since %(since)s.",
            to=snap.destination.path,
            since=format_date(local_date(snap.transfer.dispatched_at, zone)),
        )
        if snap.transfer.seal_number:
            text += " " + gettext("Seal %(seal)s.", seal=snap.transfer.seal_number)
        return text
    if status is CarrierStatus.MISSING:
        seen = snap.carrier.last_seen_at
        text = (
            gettext("Missing since %(since)s.", since=format_date(local_date(since, zone)))
            if since
            else gettext("Missing.")
        )
        if seen:
            text += " " + gettext(
                "Last seen on %(date)s at %(place)s.",
                date=format_date(local_date(seen, zone)),
                place=snap.place.path,
            )
        return text
    if status in (CarrierStatus.RETIRED, CarrierStatus.DESTROYED):
        return status_name(status)
    if status is CarrierStatus.REGISTERED:
        return gettext("Registered, not yet stored; now at %(place)s.", place=snap.place.path)
    if status is CarrierStatus.FOUND:
        return gettext("Found at %(place)s, not yet back in storage.", place=snap.place.path)
    return gettext("In storage at %(place)s.", place=snap.place.path)


def carrier_view(
    session: Session, snap: carrier_service.Snapshot, zone: ZoneInfo, *, history: int | None = 5
) -> CarrierView:
    """The card of ``snap``'s carrier; ``zone`` is the site's (Settings.zone)."""
    carrier = snap.carrier
    missing_since = None
    events = _events(session, carrier.id, history)
    if carrier.status == CarrierStatus.MISSING:
        missing_since = next((e.at for e in events if e.action == "missing"), None)
    set_text = _part(carrier) if carrier.set_total else None
    overdue = 0
    if snap.loan is not None:
        overdue = max(0, (local_today(zone) - snap.loan.due_on).days)
    return CarrierView(
        snap=snap,
        label=carrier.label,
        kind=carrier.kind,
        status=carrier.status,
        status_text=status_name(carrier.status),
        where=where_words(snap, zone, missing_since),
        set_text=set_text,
        overdue_days=overdue,
        studies=_studies(session, carrier.id),
        history=events,
        set_out=[
            f"{part.label} ({_part(part)})"
            for part in carrier_service.set_parts(session=session, carrier=carrier)
            if part.status == CarrierStatus.CHECKED_OUT
        ],
    )


def _part(carrier: Carrier) -> str:
    return gettext("disc %(n)s of %(m)s", n=carrier.set_number or "?", m=carrier.set_total)


def _studies(session: Session, carrier_id: int | None) -> list[StudyLine]:
    query = (
        select(Study, CarrierStudy.instance_count)
        .join(CarrierStudy, col(CarrierStudy.study_id) == col(Study.id))
        .where(CarrierStudy.carrier_id == carrier_id)
        .order_by(col(Study.study_date), col(Study.study_uid))
    )
    return [
        StudyLine(
            study_date=study.study_date,
            modalities=study.modalities or "",
            accession=study.accession_number,
            patient_id=study.patient_id,
            instances=count,
        )
        for study, count in session.exec(query)
    ]


def _events(session: Session, carrier_id: int | None, limit: int | None) -> list[HistoryLine]:
    query = (
        select(CustodyEvent)
        .where(CustodyEvent.carrier_id == carrier_id)
        .order_by(col(CustodyEvent.seq).desc())
    )
    if limit is not None:
        query = query.limit(limit)
    return [
        HistoryLine(
            seq=event.seq,
            at=event.recorded_at,
            action=event.action,
            what=action_name(event.action),
            where=_payload_note(event.payload),
        )
        for event in session.exec(query)
    ]


def _payload_note(payload: str) -> str | None:
    """A short note from an event's payload (a reason or a note), if it has one."""
    try:
        data: dict[str, Any] = json.loads(payload)
    except ValueError:
        return None
    note = data.get("reason") or data.get("note") or data.get("purpose")
    return str(note) if note else None
