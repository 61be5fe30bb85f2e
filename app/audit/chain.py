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
from collections.abc import Mapping
from datetime import datetime
from typing import Any

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
