"""The auditor's pages: the custody log with filters, chain verification and signed checkpoints,
"who looked up this patient", refused attempts, and a carrier's history as PREMIS or ATNA.

Auditors only (``audit.*`` in the permission table). Reading the log is itself logged, as the
API's ``GET /api/v1/audit/events`` does: one ``log_read`` per query, written when its first
page is shown (the "older" pages of the same query are not logged again).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from app.audit import service as audit_service
from app.audit.models import CustodyEvent
from app.audit.schemas import CheckpointFile
from app.carriers import service as carrier_service
from app.carriers.models import Carrier
from app.core.db import ReadSessionDep, SessionDep
from app.core.deps import SettingsDep
from app.core.errors import N_, InvalidInputError, NotFoundError
from app.core.validation import is_label
from app.locations.models import Location
from app.preservation import export
from app.stations.models import Station
from app.users.models import User
from app.web.forms import valid
from app.web.i18n import gettext
from app.web.render import render
from app.web.security import Csrf, WebUser, page
from app.web.views import ACTION_NAMES, term

router = APIRouter(prefix="/audit", include_in_schema=False)

Reader = Annotated[WebUser, Depends(page("audit.read"))]
Verifier = Annotated[WebUser, Depends(page("audit.verify"))]
Signer = Annotated[WebUser, Depends(page("audit.checkpoint"))]
Exporter = Annotated[WebUser, Depends(page("audit.export"))]

PAGE_SIZE = 50
LOOKUPS_SHOWN = 200
MAX_QUERY = 64  # as the API's query-digest (a patient ID, an accession, a label ...)

# Every action the log holds: the carriers' (views.ACTION_NAMES) and the log's own.
LOG_ACTION_NAMES: dict[str, str] = {
    **ACTION_NAMES,
    "log_read": N_("log read"),
    "log_verified": N_("log verified"),
    "denied": N_("refused"),
}
EXPORTS = {"premis": "PREMIS", "atna": "ATNA"}
# Payload fields a row's short note shows (the label and the lookup digest have their columns).
NOTE_FIELDS = ("reason", "note", "purpose", "permission", "route", "kind", "carriers", "method",
               "witness", "seal_number", "count", "ok", "first_bad_seq")
NOTE_LENGTH = 120


@dataclass(frozen=True)
class LogFilter:
    """What a reading of the log is narrowed to (every field already checked)."""

    carrier: str = ""
    user: str = ""
    action: str = ""
    date_from: str = ""
    date_to: str = ""
    carrier_id: int | None = None
    user_id: int | None = None
    start: datetime | None = None  # UTC, inclusive
    end: datetime | None = None  # UTC, exclusive

    def query(self, **more: object) -> str:
        """The filter as a URL query (for the "older" link and the export links)."""
        fields = {"carrier": self.carrier, "user": self.user, "action": self.action,
                  "from": self.date_from, "to": self.date_to, **more}
        return urlencode({k: v for k, v in fields.items() if v not in ("", None)})

    def logged(self) -> dict[str, str]:
        """The filter as the ``log_read`` entry records it."""
        fields = {"carrier": self.carrier, "user": self.user, "action": self.action,
                  "from": self.date_from, "to": self.date_to}
        return {k: v for k, v in fields.items() if v}


@dataclass(frozen=True)
class LogRow:
    seq: int
    at: datetime
    action: str
    what: str
    actor: str
    actor_kind: str
    label: str | None
    place: str | None
    note: str
    payload: dict[str, Any]


# --- reading the log ----------------------------------------------------------------------


def _day(text: str, zone: ZoneInfo) -> datetime | None:
    """Midnight (in the site's time zone) starting the typed day, in UTC; 422 when it is not
    a date."""
    if not text:
        return None
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(
            gettext("%(date)s is not a date; write it as 2024-03-31.", date=text)
        ) from None
    return datetime.combine(day, time(), zone).astimezone(ZoneInfo("UTC"))


def _user_id(session: Session, username: str) -> int:
    found = session.exec(select(User.id).where(User.username == username)).first()
    if found is None:
        raise NotFoundError(gettext("There is no user called %(user)s.", user=username))
    return found


def _carrier_id(session: Session, label: str) -> int:
    if not is_label(label):
        raise InvalidInputError(
            gettext("%(label)s is not a carrier label (letters, digits and _, at most 16).",
                    label=label)
        )
    try:
        return audit_service.carrier_id(session, label=label)
    except NotFoundError:
        raise NotFoundError(
            gettext("No carrier is registered under that label.")
        ) from None


def make_filter(
    session: Session, zone: ZoneInfo, *, carrier: str = "", user: str = "", action: str = "",
    date_from: str = "", date_to: str = "",
) -> LogFilter:
    """The typed filter, checked: an unknown carrier, user or action or a bad date is an error
    (never silently ignored, or the auditor would read an unfiltered log as a filtered one)."""
    carrier, user, action = carrier.strip().upper(), user.strip(), action.strip()
    if action and action not in LOG_ACTION_NAMES:
        raise InvalidInputError(
            gettext("The log has no action called %(action)s.", action=action)
        )
    start, end = _day(date_from, zone), _day(date_to, zone)
    if end is not None:
        end += timedelta(days=1)  # "to" includes its whole day
    if start is not None and end is not None and start >= end:
        raise InvalidInputError(gettext("The first date comes after the last one."))
    return LogFilter(
        carrier=carrier, user=user, action=action,
        date_from=date_from.strip(), date_to=date_to.strip(),
        carrier_id=_carrier_id(session, carrier) if carrier else None,
        user_id=_user_id(session, user) if user else None,
        start=start, end=end,
    )


def _conditions(f: LogFilter) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if f.carrier_id is not None:
        found.append(col(CustodyEvent.carrier_id) == f.carrier_id)
    if f.user_id is not None:
        found += [col(CustodyEvent.actor_kind) == "user", col(CustodyEvent.actor_id) == f.user_id]
    if f.action:
        found.append(col(CustodyEvent.action) == f.action)
    if f.start is not None:
        found.append(col(CustodyEvent.recorded_at) >= f.start)
    if f.end is not None:
        found.append(col(CustodyEvent.recorded_at) < f.end)
    return found


def newest_first(
    session: Session, conditions: list[ColumnElement[bool]], *, before: int | None, limit: int
) -> tuple[list[CustodyEvent], int | None]:
    """A page of entries, newest first, and the cursor of the next (older) page, if any."""
    query = select(CustodyEvent).where(*conditions)
    if before is not None:
        query = query.where(col(CustodyEvent.seq) < before)
    events = list(session.exec(query.order_by(col(CustodyEvent.seq).desc()).limit(limit + 1)))
    older = events[limit - 1].seq if len(events) > limit else None
    return events[:limit], older


def _names(session: Session, model: Any, ids: set[int], field: str) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.exec(select(model.id, getattr(model, field)).where(col(model.id).in_(ids)))
    return {int(i): str(name) for i, name in rows}


def _payload(event: CustodyEvent) -> dict[str, Any]:
    try:
        data = json.loads(event.payload)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _note(payload: dict[str, Any]) -> str:
    parts = []
    for key in NOTE_FIELDS:
        value = payload.get(key)
        if value in (None, "", []):
            continue
        parts.append(", ".join(map(str, value)) if isinstance(value, list) else str(value))
    text = " · ".join(parts)
    return text if len(text) <= NOTE_LENGTH else text[: NOTE_LENGTH - 1] + "…"


def rows_of(session: Session, events: list[CustodyEvent]) -> list[LogRow]:
    """The entries as the pages show them: names for ids, the action in the reader's words."""
    users = _names(session, User, {e.actor_id for e in events
                                   if e.actor_kind == "user" and e.actor_id}, "username")
    stations = _names(session, Station, {e.station_id for e in events if e.station_id},
                      "name")
    carriers = _names(session, Carrier, {e.carrier_id for e in events if e.carrier_id}, "label")
    places = _names(session, Location, {e.location_id for e in events if e.location_id},
                    "path")
    rows = []
    for e in events:
        if e.actor_kind == "user":
            actor = users.get(e.actor_id or 0, f"#{e.actor_id}")
        elif e.actor_kind == "station":
            actor = stations.get(e.station_id or 0, f"#{e.station_id}")
        else:
            actor = gettext("the system")
        payload = _payload(e)
        rows.append(LogRow(
            seq=e.seq, at=e.recorded_at, action=e.action,
            what=term(LOG_ACTION_NAMES, e.action), actor=actor, actor_kind=e.actor_kind,
            label=carriers.get(e.carrier_id or 0) or payload.get("label"),
            place=places.get(e.location_id or 0), note=_note(payload), payload=payload,
        ))
    return rows


def _log_read(session: Session, user: WebUser, f: LogFilter, count: int) -> None:
    """The reading itself goes into the log, as the API's reading does."""
    audit_service.append(
        session, principal=user.principal, action="log_read", carrier_id=f.carrier_id,
        payload={"filters": f.logged(), "count": count},
    )


def _zone(request: Request) -> ZoneInfo:
    zone: ZoneInfo = request.app.state.settings.zone
    return zone


@router.get("/log", response_class=HTMLResponse)
def log_page(
    request: Request,
    session: SessionDep,
    user: Reader,
    carrier: Annotated[str, Query(max_length=64)] = "",
    user_: Annotated[str, Query(alias="user", max_length=64)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    date_from: Annotated[str, Query(alias="from", max_length=32)] = "",
    date_to: Annotated[str, Query(alias="to", max_length=32)] = "",
    before: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> HTMLResponse:
    """The custody log, newest first, narrowed by carrier, person, action and dates."""
    f = make_filter(session, _zone(request), carrier=carrier, user=user_, action=action,
                    date_from=date_from, date_to=date_to)
    events, older = newest_first(session, _conditions(f), before=before, limit=PAGE_SIZE)
    if before is None:  # one log entry per query: its first page (see the module's docstring)
        _log_read(session, user, f, len(events))
    context = {
        "filter": f, "rows": rows_of(session, events), "actions": LOG_ACTION_NAMES,
        "older": f.query(before=older) if older else None, "first_page": before is None,
        "exports": EXPORTS, "may_export": user.may("audit.export"),
    }
    return render(request, "audit/log.html", context, user=user)


@router.get("/denied", response_class=HTMLResponse)
def denied_page(
    request: Request,
    session: SessionDep,
    user: Reader,
    before: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> HTMLResponse:
    """Refused attempts: who tried what they may not, when, on which route."""
    f = LogFilter(action="denied")
    events, older = newest_first(session, _conditions(f), before=before, limit=PAGE_SIZE)
    if before is None:
        _log_read(session, user, f, len(events))
    context = {"rows": rows_of(session, events),
               "older": urlencode({"before": older}) if older else None}
    return render(request, "audit/denied.html", context, user=user)


# --- who looked it up ---------------------------------------------------------------------


@router.get("/lookups", response_class=HTMLResponse)
def lookups_form(request: Request, user: Reader) -> HTMLResponse:
    return render(request, "audit/lookups.html", {"searched": False}, user=user)


@router.post("/lookups", response_class=HTMLResponse)
def lookups(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: Reader,
    _: Csrf,
    q: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Who looked up this patient ID (accession, label, any text): the lookups logged under the
    text's digest, computed as the API's ``/audit/query-digest`` does. A POST, so the text
    never reaches a URL or an access log; the page does not repeat it, the log keeps only the
    digest."""
    if not q.strip() or len(q) > MAX_QUERY:
        raise InvalidInputError(
            gettext("Type the text that was looked up (at most %(max)s characters).",
                    max=MAX_QUERY)
        )
    digest = audit_service.query_digest(settings.secret_key, q)
    audit_service.append(
        session, principal=user.principal, action="log_read", payload={"query_digest": digest}
    )
    carries = col(CustodyEvent.payload).contains(f'"query_digest":"{digest}"')
    events, more = newest_first(
        session, [col(CustodyEvent.action) == "lookup", carries], before=None,
        limit=LOOKUPS_SHOWN,
    )
    events = [e for e in events if _payload(e).get("query_digest") == digest]
    context = {"searched": True, "digest": digest, "rows": rows_of(session, events),
               "more": more is not None,
               "shown": LOOKUPS_SHOWN}
    return render(request, "audit/lookups.html", context, user=user)


# --- verification and checkpoints ---------------------------------------------------------


@router.get("/verify", response_class=HTMLResponse)
def verify_form(request: Request, user: Verifier) -> HTMLResponse:
    return render(request, "audit/verify.html", {"report": None}, user=user)


def _checkpoint_file(upload: UploadFile | None) -> audit_service.ExportedCheckpoint | None:
    """The checkpoint file sent along, checked as the API checks its body (None: no file)."""
    if upload is None or not upload.filename:
        return None
    try:
        data = json.loads(upload.file.read(64 * 1024))
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise InvalidInputError(gettext("That file is not a checkpoint exported by MediaTrack."))
    checked = valid(CheckpointFile, **data)
    return audit_service.ExportedCheckpoint(**checked.model_dump())


@router.post("/verify", response_class=HTMLResponse)
def verify(
    request: Request,
    read: ReadSessionDep,
    session: SessionDep,
    user: Verifier,
    _: Csrf,
    checkpoint: Annotated[UploadFile | None, File()] = None,
) -> HTMLResponse:
    """Recompute the whole chain (and check it against a checkpoint file, if one is given);
    the verification is logged as the API logs it."""
    exported = _checkpoint_file(checkpoint)
    report = audit_service.verify(read, checkpoint=exported)
    audit_service.log_verification(session, principal=user.principal, report=report)
    context = {"report": report, "against": exported}
    return render(request, "audit/verify.html", context, user=user)


@router.post("/checkpoint")
def checkpoint_download(
    session: SessionDep, settings: SettingsDep, user: Signer, _: Csrf
) -> Response:
    """Sign the log's head now and hand the checkpoint over as a file (the same JSON as the
    API's ``POST /audit/checkpoints`` and ``mediatrack audit checkpoint``)."""
    key = audit_service.load_signing_key(settings.signing_key_file)
    exported = audit_service.create_checkpoint(session, key=key, origin=settings.SITE_NAME)
    body = json.dumps(dataclasses.asdict(exported), indent=2) + "\n"
    return _download(body, f"mediatrack-checkpoint-{exported.size}.json")


# --- a carrier's history as PREMIS or ATNA --------------------------------------------------


@router.get("/export")
def export_history(
    session: SessionDep,
    settings: SettingsDep,
    user: Exporter,
    carrier: Annotated[str, Query(max_length=64)] = "",
    format_: Annotated[str, Query(alias="format", max_length=16)] = "premis",
) -> Response:
    """A carrier's history as the preservation API gives it: PREMIS events or DICOM (ATNA)
    audit messages, as a JSON file."""
    if format_ not in EXPORTS:
        raise InvalidInputError(gettext("Choose PREMIS or ATNA."))
    label = carrier.strip().upper()
    if not label:
        raise InvalidInputError(gettext("Type the label of the carrier to export."))
    _carrier_id(session, label)  # a clear sentence for a bad or unknown label
    found = carrier_service.get_by_label(session=session, label=label)
    if format_ == "premis":
        document = export.premis_events(session=session, carrier=found)
    else:
        document = {
            "schema": "DICOM PS3.15 A.5.1 AuditMessage",
            "messages": export.atna_messages(session=session, carrier=found,
                                             site=settings.SITE_NAME),
        }
    body = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    return _download(body, f"{label}-{format_}.json")


def _download(body: str, filename: str) -> Response:
    return Response(
        body, media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
