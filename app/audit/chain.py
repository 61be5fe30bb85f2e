"""The hash chain of the custody log, independent of the database.

Canonical form (RFC 8785 JCS for the values we allow: strings, integers, booleans, null,
objects, arrays; floats are refused so no number formatting question arises):
keys sorted, no whitespace, UTF-8.

    leaf = SHA-256(0x00 || canonical)          # 0x00 leaf prefix as in RFC 6962 section 2.1
    hash = SHA-256(prev_hash || leaf)          # prev_hash of the first entry: 32 zero bytes
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Any, NoReturn

from app.core.time import as_utc

GENESIS = "00" * 32
# The stored columns an entry's hash covers (everything but the hashes themselves).
ENTRY_FIELDS = (
    "seq",
    "recorded_at",
    "action",
    "actor_kind",
    "actor_id",
    "actor_role",
    "station_id",
    "carrier_id",
    "location_id",
    "payload",
)


def _check_no_floats(value: Any) -> None:
    if isinstance(value, float):
        raise TypeError("custody log payloads carry no floating-point numbers")
    if isinstance(value, Mapping):
        for item in value.values():
            _check_no_floats(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_no_floats(item)


def canonical_json(value: Any) -> str:
    _check_no_floats(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def format_time(value: datetime) -> str:
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_document(
    *,
    seq: int,
    recorded_at: datetime,
    action: str,
    actor_kind: str,
    actor_id: int | None,
    actor_role: str,
    station_id: int | None,
    carrier_id: int | None,
    location_id: int | None,
    payload: str,
) -> dict[str, Any]:
    """Everything an entry says, as hashed. ``payload`` is already canonical JSON text."""
    return {
        "seq": seq,
        "recorded_at": format_time(recorded_at),
        "action": action,
        "actor": {"kind": actor_kind, "id": actor_id, "role": actor_role},
        "station_id": station_id,
        "carrier_id": carrier_id,
        "location_id": location_id,
        "payload": json.loads(payload),
    }


def chain_hash(prev_hash: str, document: Mapping[str, Any]) -> str:
    leaf = hashlib.sha256(b"\x00" + canonical_json(document).encode()).digest()
    return hashlib.sha256(bytes.fromhex(prev_hash) + leaf).hexdigest()


# --- the same text, faster, for verifying rows as stored ----------------------------------

# json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False) builds such an
# encoder on every call; this is that encoder, built once.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _refuse(_text: str) -> NoReturn:
    raise TypeError("a floating-point number")


# A float (or NaN, Infinity) anywhere in a payload refuses it as _check_no_floats does.
_DECODER = json.JSONDecoder(parse_float=_refuse, parse_constant=_refuse)
_INT_OR_NULL = frozenset({int, type(None)})

# A flat object whose text is already canonical, but perhaps for its keys' order: string values
# with nothing json.dumps escapes (", \\, control characters), integers written as json.dumps
# writes them (no leading zero, no -0, and short: far from int()'s digit limit), true, false,
# null. Its keys, sorted and distinct, make it canonical: the usual payload, checked without
# decoding and encoding it. One match reads the keys too: each pair nests in the one before,
# so the key groups that matched are the first ``lastindex``; an object of more pairs than
# _FLAT_PAIRS takes the long way.
_STRING = r'"[^"\\\x00-\x1f]*"'
_VALUE = rf"(?:{_STRING}|-?[1-9][0-9]{{0,17}}|0|true|false|null)"
_PAIR = rf'"([^"\\\x00-\x1f]*)":{_VALUE}'
_FLAT_PAIRS = 16
_FLAT = re.compile(
    rf"\{{(?:{_PAIR}"
    + "".join(f"(?:,{_PAIR}" for _ in range(_FLAT_PAIRS - 1))
    + ")?" * (_FLAT_PAIRS - 1)
    + r")?\}"
)
# The time as SQLite holds it, written by the service: the canonical text but for the "T".
_STORED_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}")


def stored_entry_text(
    seq: Any,
    recorded_at: Any,
    action: Any,
    actor_kind: Any,
    actor_id: Any,
    actor_role: Any,
    station_id: Any,
    carrier_id: Any,
    location_id: Any,
    payload: Any,
) -> str | None:
    """``canonical_json(entry_document(...))`` of a stored row, without building the document.

    The verifier's hot path. It writes the document's keys in their sorted order (the
    document's shape is fixed) around the row's values, so it only takes values of the types
    the log's columns hold (int or None, str, the time as stored) and a payload that decodes
    without floats; for anything else it answers None, and the caller takes the long way
    (``entry_document`` + ``canonical_json``), which says what is wrong with the row. Where it
    answers, the text is the same character for character (tests/app/audit/test_chain.py).
    """
    if not (
        type(seq) is int
        and type(actor_id) in _INT_OR_NULL
        and type(station_id) in _INT_OR_NULL
        and type(carrier_id) in _INT_OR_NULL
        and type(location_id) in _INT_OR_NULL
        and type(action) is str
        and type(actor_kind) is str
        and type(actor_role) is str
        and type(payload) is str
    ):
        return None
    try:
        when = datetime.fromisoformat(recorded_at) if type(recorded_at) is str else recorded_at
        # Naive is UTC (the verifier reads it so from both databases): an aware time is
        # turned into one, whose isoformat costs a third of an aware one's.
        if when.tzinfo is not None:
            when = when.astimezone(UTC).replace(tzinfo=None)
        # format_time's strftime gives the same fields, but for %Y below the year 1000 (not
        # padded to four digits).
        if when.year < 1000:
            return None
        # fromisoformat has checked that the stored text is a time; where it is in the form
        # the service writes, isoformat would only write it again (and that costs more).
        if type(recorded_at) is str and _STORED_TIME.fullmatch(recorded_at):
            iso = f"{recorded_at[:10]}T{recorded_at[11:]}"
        else:
            # Without timespec (cheaper), isoformat leaves out a fraction of zero.
            iso = when.isoformat() if when.microsecond else f"{when.isoformat()}.000000"
        flat = _FLAT.fullmatch(payload)
        keys = flat.groups()[: flat.lastindex or 0] if flat else None
        # Each key before the next: sorted and distinct.
        if keys is not None and all(map(str.__lt__, keys, keys[1:])):
            body = payload
        else:
            body = _ENCODER.encode(_DECODER.decode(payload))
    except (ValueError, TypeError, AttributeError):
        return None
    # The ints are written inline: a call per field costs more than the formatting.
    return (
        f'{{"action":{encode_basestring(action)},"actor":{{"id":'
        f'{"null" if actor_id is None else actor_id},'
        f'"kind":{encode_basestring(actor_kind)},"role":{encode_basestring(actor_role)}}},'
        f'"carrier_id":{"null" if carrier_id is None else carrier_id},'
        f'"location_id":{"null" if location_id is None else location_id},'
        f'"payload":{body},"recorded_at":"{iso}Z","seq":{seq},'
        f'"station_id":{"null" if station_id is None else station_id}}}'
    )
