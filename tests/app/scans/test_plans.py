"""The statements every scan runs find their rows through an index, with one read and with
many (a group of scans binds several keys): SQLite's plan for each, on a migrated database.
A scan of a whole table is nothing at ten thousand carriers and a second's stall at a million;
the benchmark found one such plan (a LEFT JOIN filtered by an IN list of several tags)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from app.carriers import service as carrier_service
from app.core.db import make_engine
from app.scans import service as scan_service

# Tables that grow with the archive; a lookup table of a few rows may be scanned.
LARGE = {"carrier", "tag", "custody_event", "scan", "carrier_study", "study", "loan", "station"}

STATEMENTS: dict[str, tuple[Any, Any]] = {
    "a carrier's facts by id": (carrier_service._FACTS, lambda n: {"keys": list(range(1, n + 1))}),
    "a carrier's facts by tag": (
        carrier_service._FACTS_BY_TAG,
        lambda n: {"keys": [f"04A1B2C3D4E5{i:02X}" for i in range(n)]},
    ),
    "a carrier's studies": (carrier_service._STUDIES, lambda n: {"ids": list(range(1, n + 1))}),
    "the stations": (scan_service._STATIONS, lambda n: {"ids": list(range(1, n + 1))}),
    "stored answers": (
        scan_service._STORED,
        lambda n: {
            "event_ids": [f"00000000-0000-4000-8000-{i:012d}" for i in range(n)],
            "stations": list(range(1, n + 1)),
            "seqs": list(range(n)),
        },
    ),
}


@pytest.fixture
def sqlite_engine(sqlite_template: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{sqlite_template}")
    yield engine
    engine.dispose()


@pytest.mark.parametrize("keys", [1, 3])
@pytest.mark.parametrize("name", list(STATEMENTS))
def test_a_scans_statement_reads_no_whole_large_table(
    sqlite_engine: Engine, name: str, keys: int
) -> None:
    statement, params = STATEMENTS[name]
    compiled = statement.params(**params(keys)).compile(
        sqlite_engine, compile_kwargs={"literal_binds": True}
    )
    with sqlite_engine.connect() as conn:
        plan = [row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")]
    scanned = {m.group(1) for line in plan if (m := re.match(r"SCAN (\w+)", line))}
    assert not scanned & LARGE, f"{name} with {keys} key(s) scans {scanned & LARGE}: {plan}"
