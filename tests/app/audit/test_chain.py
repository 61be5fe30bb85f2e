"""The verifier's fast canonical text is the definition's, character for character."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.audit.chain import ENTRY_FIELDS, canonical_json, entry_document, stored_entry_text

# JSON values the log may hold: no floats; strings with quotes, backslashes, control
# characters and non-ASCII text, which the two must escape alike.
_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
_ids = st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1)
_times = st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 30))
_zones = st.none() | st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


def _definition(row: dict[str, Any]) -> str:
    """What append hashes, from a row as the verifier reads it (SQLite: the time as text)."""
    fields = dict(row)
    if isinstance(fields["recorded_at"], str):
        fields["recorded_at"] = datetime.fromisoformat(fields["recorded_at"])
    return canonical_json(entry_document(**fields))


@settings(max_examples=500, deadline=None)
@given(
    seq=st.integers(min_value=1, max_value=2**63 - 1),
    when=_times,
    zone=_zones,
    as_text=st.booleans(),
    action=st.text(),
    actor_kind=st.text(),
    actor_id=_ids,
    actor_role=st.text(),
    station_id=_ids,
    carrier_id=_ids,
    location_id=_ids,
    payload=_values,
    spaced=st.booleans(),
)
def test_same_text_as_the_definition(
    seq: int,
    when: datetime,
    zone: timezone | None,
    as_text: bool,
    action: str,
    actor_kind: str,
    actor_id: int | None,
    actor_role: str,
    station_id: int | None,
    carrier_id: int | None,
    location_id: int | None,
    payload: Any,
    spaced: bool,
) -> None:
    recorded_at: datetime | str = when.replace(tzinfo=zone)
    if as_text:  # SQLite's column: the naive UTC time as text
        recorded_at = str(when)
    row = {
        "seq": seq,
        "recorded_at": recorded_at,
        "action": action,
        "actor_kind": actor_kind,
        "actor_id": actor_id,
        "actor_role": actor_role,
        "station_id": station_id,
        "carrier_id": carrier_id,
        "location_id": location_id,
        # A payload stored other than canonically (spaces, keys unsorted) hashes as its
        # canonical form, as it always has.
        "payload": json.dumps(payload) if spaced else canonical_json(payload),
    }
    fast = stored_entry_text(*(row[k] for k in ENTRY_FIELDS))
    assert fast is not None
    assert fast == _definition(row)


_ROW = {
    "seq": 7,
    "recorded_at": "2026-01-01 10:00:00.000001",
    "action": "seen",
    "actor_kind": "station",
    "actor_id": 2,
    "actor_role": "station",
    "station_id": 2,
    "carrier_id": 3,
    "location_id": None,
    "payload": '{"label":"RAD1"}',
}


def test_an_ordinary_row_takes_the_fast_way() -> None:
    assert stored_entry_text(*_ROW.values()) == _definition(_ROW)


_flat_values = (
    st.none() | st.booleans() | st.integers(min_value=-(10**20), max_value=10**20) | st.text()
)


@settings(max_examples=500, deadline=None)
@given(
    items=st.lists(st.tuples(st.text(max_size=4), _flat_values), max_size=6),
    sort=st.booleans(),
)
def test_a_flat_payload_kept_as_stored_is_canonical(
    items: list[tuple[str, Any]], sort: bool
) -> None:
    """The payload checked without decoding (keys in order or not, repeated or not, values
    that need escaping or not) gives the definition's text."""
    pairs = sorted(items, key=lambda pair: pair[0]) if sort else items
    payload = "{" + ",".join(f"{canonical_json(k)}:{canonical_json(v)}" for k, v in pairs) + "}"
    row = {**_ROW, "payload": payload}
    assert stored_entry_text(*row.values()) == _definition(row)


@pytest.mark.parametrize(
    "payload",
    [
        "{}",
        '{"a":1,"b":"x"}',
        '{"b":1,"a":2}',
        '{"a":1,"a":2}',
        '{"a":-0}',
        '{"a":1234567890123456789012}',
        '{"a":"q,","":null}',
        '{"a":"\\u00e9"}',
        '{"a":"\\n"}',
        '{"a":[1,2],"b":{"d":1,"c":2}}',
        '"text"',
    ],
)
def test_payloads_at_the_edges(payload: str) -> None:
    row = {**_ROW, "payload": payload}
    assert stored_entry_text(*row.values()) == _definition(row)


@pytest.mark.parametrize(
    "change",
    [
        {"payload": '{"n":1.5}'},
        {"payload": '{"n":NaN}'},
        {"payload": "[1e400]"},
        {"payload": "not json"},
        {"payload": b'{"n":1}'},
        {"recorded_at": "garbage"},
        {"recorded_at": "0999-01-01 00:00:00.000001"},
        {"recorded_at": 5},
        {"carrier_id": "3"},
        {"carrier_id": 3.0},
        {"carrier_id": True},
        {"action": 5},
    ],
)
def test_anything_unusual_takes_the_long_way(change: dict[str, Any]) -> None:
    """None: the verifier then asks the definition, which names what is wrong (or not)."""
    assert stored_entry_text(*{**_ROW, **change}.values()) is None


def test_the_time_is_written_in_utc() -> None:
    aware = datetime(2026, 1, 1, 12, 0, 0, 5, tzinfo=timezone(timedelta(hours=8)))
    text = stored_entry_text(*{**_ROW, "recorded_at": aware}.values())
    assert text is not None and '"recorded_at":"2026-01-01T04:00:00.000005Z"' in text
