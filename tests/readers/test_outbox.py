"""The station outbox: durable, ordered, sequence numbers that never repeat."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from readers.outbox import Outbox

NOW = datetime(2026, 11, 28, 13, 0, tzinfo=UTC)


class TestOutbox:
    def test_sequence_survives_ack_and_reopen(self, tmp_path: Path) -> None:
        path = tmp_path / "outbox.db"
        outbox = Outbox(path)
        first = outbox.add("04A224B1C35E80", "iso14443a", NOW)
        second = outbox.add("04A224B1C35E80", "iso14443a", NOW)
        outbox.acknowledge([first.event_id, second.event_id])
        outbox.close()
        reopened = Outbox(path)
        third = reopened.add("04A224B1C35E80", "iso14443a", NOW)
        assert [first.station_seq, second.station_seq, third.station_seq] == [1, 2, 3]
        assert reopened.count() == 1
        reopened.close()

    def test_pending_in_order_and_as_reads(self, tmp_path: Path) -> None:
        outbox = Outbox(tmp_path / "outbox.db")
        scans = [outbox.add(f"0400000000000{i}", "iso14443a", NOW) for i in range(5)]
        assert outbox.pending(3) == scans[:3]
        assert scans[0].as_read() == {
            "event_id": scans[0].event_id, "station_seq": 1, "tag_uid": "04000000000000",
            "technology": "iso14443a", "read_at": "2026-11-28T13:00:00+00:00",
        }
        outbox.acknowledge([scans[1].event_id])
        assert [s.station_seq for s in outbox.pending(10)] == [1, 3, 4, 5]
        outbox.close()

    def test_wal_and_full_sync(self, tmp_path: Path) -> None:
        Outbox(tmp_path / "outbox.db").close()
        db = sqlite3.connect(tmp_path / "outbox.db")
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        db.close()
        outbox = Outbox(tmp_path / "outbox.db")
        # synchronous is per connection: 2 = FULL
        assert outbox._db.execute("PRAGMA synchronous").fetchone() == (2,)
        outbox.close()


def test_continue_after_renumbers_only_what_the_service_already_holds(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    outbox = Outbox(tmp_path / "o.db")
    scans = [outbox.add("04A224B1C35E80", "iso14443a", datetime.now(UTC)) for _ in range(3)]
    assert [s.station_seq for s in scans] == [1, 2, 3]
    assert outbox.continue_after(2) == 2
    pending = outbox.pending(10)
    # Same scans (event ids), same order; numbers now above the service's 2.
    assert [s.event_id for s in pending] == [s.event_id for s in scans]
    assert [s.station_seq for s in pending] == [4, 5, 6]
    assert outbox.add("04A224B1C35E80", "iso14443a", datetime.now(UTC)).station_seq == 7
    assert outbox.continue_after(3) == 0  # already ahead: nothing changes
    assert [s.station_seq for s in outbox.pending(10)] == [4, 5, 6, 7]
    outbox.close()


class TestFailures:
    def test_a_failed_acknowledge_rolls_back_and_the_outbox_goes_on(self, tmp_path: Path) -> None:
        path = tmp_path / "outbox.db"
        outbox = Outbox(path)
        first = outbox.add("04000000000001", "iso14443a", NOW)
        second = outbox.add("04000000000002", "iso14443a", NOW)
        # A DELETE that fails half-way through the batch (as a full disk or an I/O error would).
        with sqlite3.connect(path) as other:
            other.execute(
                "CREATE TRIGGER refuse BEFORE DELETE ON scan WHEN old.station_seq = 2 "
                "BEGIN SELECT RAISE(ABORT, 'disk trouble'); END"
            )
        with pytest.raises(sqlite3.IntegrityError, match="disk trouble"):
            outbox.acknowledge([first.event_id, second.event_id])
        assert outbox.count() == 2  # all or nothing: the first DELETE was rolled back
        with sqlite3.connect(path) as other:
            other.execute("DROP TRIGGER refuse")
        third = outbox.add("04000000000003", "iso14443a", NOW)  # a new transaction begins
        outbox.acknowledge([first.event_id, second.event_id])
        assert outbox.pending(10) == [third]
        outbox.close()

    def test_a_buried_scan_keeps_its_reason_and_leaves_the_queue(self, tmp_path: Path) -> None:
        path = tmp_path / "outbox.db"
        outbox = Outbox(path)
        bad = outbox.add("04000000000001", "iso14443a", NOW)
        good = outbox.add("04000000000002", "iso14443a", NOW)
        outbox.bury(bad, "The read is not a read.", NOW)
        assert outbox.pending(10) == [good]
        outbox.close()
        reopened = Outbox(path)  # it is durable
        [dead] = reopened.dead_letters()
        assert dead.scan == bad and dead.reason == "The read is not a read."
        assert reopened.add("04000000000003", "iso14443a", NOW).station_seq == 3
        reopened.close()
