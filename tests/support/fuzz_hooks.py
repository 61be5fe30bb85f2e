"""schemathesis hooks (loaded through SCHEMATHESIS_HOOKS): the rules between fields of one body
that JSON Schema cannot state, so a case generated as valid is valid.

Each rule is in the field descriptions of the OpenAPI document, and the service answers 422 when
it is broken: the hooks only make the valid ("positive") cases obey it. Invalid cases are left
as generated.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, TypeGuard

import schemathesis
from schemathesis import Case, GenerationMode, HookContext

from app.core.config import Settings
from app.core.time import local_today
from app.core.validation import UID_LENGTHS, Technology


def _is_date(value: object) -> bool:
    try:
        date.fromisoformat(str(value))
    except ValueError:
        return False
    return isinstance(value, str)


def _dates_in_order(body: dict[str, Any], first: str, last: str) -> None:
    if _is_date(body.get(first)) and _is_date(body.get(last)) and body[last] < body[first]:
        body[first], body[last] = body[last], body[first]


def _today() -> date:
    """The server's day: it checks due and needed-by dates in its zone (MEDIATRACK_TIMEZONE),
    which is not UTC's day for part of every day (00:00-08:00 in Shanghai)."""
    return local_today(Settings().zone)


def _not_in_the_past(body: dict[str, Any], field: str) -> None:
    today = _today().isoformat()
    if _is_date(body.get(field)) and body[field] < today:
        body[field] = today


def _loan_due(body: dict[str, Any]) -> None:
    """A loan is due from today up to 365 days on."""
    _not_in_the_past(body, "due_on")
    last = (_today() + timedelta(days=365)).isoformat()
    if _is_date(body.get("due_on")) and body["due_on"] > last:
        body["due_on"] = last


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _carrier(body: dict[str, Any]) -> None:
    """Part n of m: both or neither, n <= m, a set key only with them; LTO fields on tapes."""
    number, total = body.get("set_number"), body.get("set_total")
    if (number is None) != (total is None):
        body["set_number"] = body["set_total"] = None
    # A whole number may come as 606.0 (JSON Schema's integer allows it, and so does the API).
    elif _number(number) and _number(total) and number > total:
        body["set_number"], body["set_total"] = total, number
    if body.get("set_key") is not None and body.get("set_total") is None:
        body["set_key"] = None
    if not str(body.get("kind", "")).upper().startswith("LTO"):
        body.pop("lto_barcode", None)
        body.pop("cm_serial", None)


def _tag(body: dict[str, Any]) -> None:
    """A UID's length is one its technology allows: pick the technology by the length."""
    uid = body.get("tag_uid")
    if not isinstance(uid, str):
        return
    size = len("".join(c for c in uid if c not in " :.-")) // 2
    for technology in Technology:
        if size in UID_LENGTHS[technology]:
            body["technology"] = technology.value
            return


def _reading(body: dict[str, Any]) -> None:
    """The counts a station sends agree with the files it lists (or are left out), and a
    medium holds at least one DICOM instance; an intake with problems accepts them."""
    for field in ("instance_count", "file_count", "byte_count"):
        body.pop(field, None)
    files = body.get("files")
    if isinstance(files, list) and not any(
        isinstance(f, dict) and f.get("sop_instance_uid") for f in files
    ):
        files.append({"path": "DICOM/I1", "size": 1, "sha256": "0" * 64,
                      "sop_instance_uid": "1.2.3.4", "study_instance_uid": "1.2.3"})

def _intake(body: dict[str, Any]) -> None:
    """As :func:`_reading`; an intake of a medium with problems accepts them."""
    _reading(body)
    body["accept_problems"] = True


def _inventory_reads(body: dict[str, Any]) -> None:
    """A read names exactly one of tag_uid, label or location: keep the first given."""
    for read in body.get("reads") or []:
        if not isinstance(read, dict):
            continue
        given = [f for f in ("tag_uid", "label", "location") if read.get(f) is not None]
        for field in given[1:]:
            read.pop(field)
        if not given:
            read["location"] = "A"


def _events_query(query: dict[str, Any]) -> None:
    """An export names a carrier, a campaign or a date range; a range ends after it starts."""
    if not any(query.get(k) is not None for k in ("carrier", "campaign", "since", "until")):
        query["campaign"] = 1
    since, until = query.get("since"), query.get("until")
    if isinstance(since, str) and isinstance(until, str) and until[:10] <= since[:10]:
        query.pop("until")


RULES = {
    ("POST", "/api/v1/inventory/campaigns"): lambda b: _dates_in_order(b, "starts_on", "ends_on"),
    ("POST", "/api/v1/requests"): lambda b: _not_in_the_past(b, "needed_on"),
    ("POST", "/api/v1/carriers"): _carrier,
    ("POST", "/api/v1/carriers/{label}/checkout"): _loan_due,
    ("POST", "/api/v1/requests/{request_id}/fulfil"): _loan_due,
    ("POST", "/api/v1/carriers/{label}/tag"): _tag,
    ("POST", "/api/v1/carriers/{label}/intake"): _intake,
    ("POST", "/api/v1/carriers/{label}/verify"): _reading,
    ("POST", "/api/v1/inventory/campaigns/{campaign_id}/reads"): _inventory_reads,
}


@schemathesis.hook
def map_case(context: HookContext, case: Case) -> Case:
    rule = RULES.get((case.operation.method.upper(), case.operation.path))
    positive = case.meta is not None and case.meta.generation.mode == GenerationMode.POSITIVE
    if rule is not None and positive and isinstance(case.body, dict):
        rule(case.body)
    if positive and case.operation.path == "/api/v1/epcis/events" and case.query is not None:
        _events_query(case.query)
    return case
