"""The station's local outbox: every scan is durable here before it is sent.

SQLite in WAL mode with ``synchronous=FULL``: a scan the agent has reported as queued survives a
power cut. Station sequence numbers come from a counter in the same file, assigned in the same
transaction as the insert, so they stay strictly increasing across restarts and never repeat
(the service uses ``(station, station_seq)`` to record each scan once). A scan leaves the outbox
only when the service acknowledged its event id, or moves to the dead-letter table when the
service refused it as malformed (it will never take it as it is; it stays there, with the reason,
for a person to look at: never dropped, never blocking the scans behind it).

Inventory reads (``mediatrack station run --mode inventory``) wait in the same queue, marked with
their campaign and sweep session, so both kinds share one order, one delivery loop and one
dead-letter table. They take a number from the same counter, which only orders the queue for
them (the inventory API knows reads by event id alone): the desk scans' numbers keep increasing,
with gaps, which the service allows. The sweep session of each campaign (a UUID the agent makes
once) is kept in the file too, so a restarted agent continues the same session, on its shelf.

The file's layout has a version (``PRAGMA user_version``): a file written by an older agent is
brought up to date when it is opened, in one transaction, with its queued scans kept.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS scan (
    station_seq INTEGER PRIMARY KEY,
    event_id    TEXT NOT NULL UNIQUE,
    tag_uid     TEXT NOT NULL,
    technology  TEXT NOT NULL,
    read_at     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS counter (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO counter (name, value) VALUES ('last_station_seq', 0);
CREATE TABLE IF NOT EXISTS dead_letter (
    station_seq INTEGER PRIMARY KEY,
    event_id    TEXT NOT NULL UNIQUE,
    tag_uid     TEXT NOT NULL,
    technology  TEXT NOT NULL,
    read_at     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    refused_at  TEXT NOT NULL
);
"""

# Each step brings a file from version n to n + 1 (its index + 1); a new file takes them all,
# so old and new files end up with the same layout by one path. ALTER TABLE ... ADD COLUMN
# keeps every row. Statements run one by one inside one transaction (executescript would
# commit first).
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: inventory reads share the queue; their sweep sessions live here too.
    tuple(
        f"ALTER TABLE {table} ADD COLUMN {column}"
        for table in ("scan", "dead_letter")
        for column in ("campaign_id INTEGER", "session TEXT",
                       "records TEXT NOT NULL DEFAULT '[]'")
    ) + (
        "CREATE TABLE sweep (campaign_id INTEGER PRIMARY KEY, session TEXT NOT NULL UNIQUE, "
        "started_at TEXT NOT NULL, shelf TEXT)",
    ),
)
COLUMNS = "event_id, station_seq, tag_uid, technology, read_at, campaign_id, session, records"

Records = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Sweep:
    """The agent's sweep session of one campaign, made once and kept in the outbox."""

    campaign_id: int
    session: str  # UUID: the device names its session
    started_at: str  # ISO 8601, by the station's clock
    shelf: str | None  # the last shelf the server reported, as the operator read it


@dataclass(frozen=True, slots=True)
class Scan:
    """A queued read: a desk scan, or an inventory read when it has a campaign."""

    event_id: str
    station_seq: int
    tag_uid: str
    technology: str
    read_at: str  # ISO 8601 with timezone
    campaign_id: int | None = None
    session: str | None = None
    # The tag's NDEF records as Web NFC names them: (type, hex of the payload).
    records: Records = ()

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Scan:
        """A row of :data:`COLUMNS`."""
        event_id, seq, uid, technology, read_at, campaign_id, session, records = row
        return cls(event_id, seq, uid, technology, read_at, campaign_id, session,
                   tuple((r["type"], r["data"]) for r in json.loads(records)))

    def as_read(self) -> dict[str, str | int]:
        """The read as ``POST /scans`` takes it."""
        return {"event_id": self.event_id, "station_seq": self.station_seq,
                "tag_uid": self.tag_uid, "technology": self.technology, "read_at": self.read_at}

    def as_inventory_read(self) -> dict[str, Any]:
        """The read as ``POST /inventory/campaigns/{id}/reads`` takes it (``InventoryRead``)."""
        return {"event_id": self.event_id, "session": self.session, "read_at": self.read_at,
                "tag_uid": self.tag_uid, "technology": self.technology, "device": "laptop",
                "records": [{"type": t, "data": d} for t, d in self.records]}


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A scan the server refused as malformed, kept with the server's reason."""

    scan: Scan
    reason: str
    refused_at: str  # ISO 8601, by the station's clock


class Outbox:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode; we open our own transactions. One connection, shared under a lock
        # by the agent's reader and sender threads.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._migrate()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction under the lock: committed on success, rolled back on any
        error, so a failed statement never leaves the shared connection inside a transaction."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _migrate(self) -> None:
        """Bring the file's layout to the newest version. The write lock taken first makes a
        second agent opening the same file wait, then find it done."""
        with self._transaction() as db:
            (version,) = db.execute("PRAGMA user_version").fetchone()
            for step in MIGRATIONS[version:]:
                for statement in step:
                    db.execute(statement)
            # PRAGMA takes no parameters; the value is our own constant.
            db.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")

    def add(
        self,
        tag_uid: str,
        technology: str,
        read_at: datetime,
        *,
        sweep: Sweep | None = None,
        records: Records = (),
    ) -> Scan:
        """Record a scan (an inventory read of ``sweep``'s campaign when given) durably and give
        it the next station sequence number."""
        with self._transaction() as db:
            (seq,) = db.execute(
                "UPDATE counter SET value = value + 1 WHERE name = 'last_station_seq' "
                "RETURNING value"
            ).fetchone()
            scan = Scan(str(uuid.uuid4()), seq, tag_uid, technology, read_at.isoformat(),
                        sweep.campaign_id if sweep else None, sweep.session if sweep else None,
                        records)
            db.execute(
                f"INSERT INTO scan ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (scan.event_id, scan.station_seq, scan.tag_uid, scan.technology, scan.read_at,
                 scan.campaign_id, scan.session,
                 json.dumps([{"type": t, "data": d} for t, d in records])),
            )
        return scan

    def sweep(self, campaign_id: int, now: datetime) -> Sweep:
        """This station's sweep session of the campaign: the one made before, or a new one."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO sweep (campaign_id, session, started_at) VALUES (?, ?, ?)",
                (campaign_id, str(uuid.uuid4()), now.isoformat()),
            )
            row = db.execute(
                "SELECT campaign_id, session, started_at, shelf FROM sweep WHERE campaign_id = ?",
                (campaign_id,),
            ).fetchone()
        return Sweep(*row)

    def keep_shelf(self, campaign_id: int, shelf: str) -> None:
        """Remember the shelf the server last reported, to show it again after a restart."""
        with self._transaction() as db:
            db.execute("UPDATE sweep SET shelf = ? WHERE campaign_id = ?", (shelf, campaign_id))

    def continue_after(self, server_seq: int) -> int:
        """Make every unsent scan's number, and every later one, larger than ``server_seq``.

        The service records each (station, sequence number) once, so numbers it has already
        seen would make new scans look like old ones (an outbox file lost or restored from an
        old backup). Renumbering is always safe: a scan the service did record is still
        recognised by its event id. Returns how many unsent scans had numbers the service
        already holds.
        """
        with self._transaction() as db:
            (counter,) = db.execute(
                "SELECT value FROM counter WHERE name = 'last_station_seq'"
            ).fetchone()
            pending = [row[0] for row in db.execute(
                "SELECT station_seq FROM scan ORDER BY station_seq"
            )]
            stale = sum(1 for seq in pending if seq <= server_seq)
            next_seq = max(counter, server_seq)
            if stale:
                # Renumber every unsent scan, keeping their order; the new numbers start above
                # both counters, so they collide with nothing in the outbox.
                for old in pending:
                    next_seq += 1
                    db.execute(
                        "UPDATE scan SET station_seq = ? WHERE station_seq = ?", (next_seq, old)
                    )
            db.execute(
                "UPDATE counter SET value = ? WHERE name = 'last_station_seq'", (next_seq,)
            )
        return stale

    def pending(self, limit: int) -> list[Scan]:
        """The oldest unacknowledged scans, in sequence order, that go in one request: desk
        scans, or one campaign's inventory reads, up to the first of another kind."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {COLUMNS} FROM scan ORDER BY station_seq LIMIT ?", (limit,)
            ).fetchall()
        scans = [Scan.from_row(row) for row in rows]
        same = [s.campaign_id == scans[0].campaign_id for s in scans]
        return scans[: same.index(False)] if False in same else scans

    def acknowledge(self, event_ids: list[str]) -> None:
        with self._transaction() as db:
            db.executemany("DELETE FROM scan WHERE event_id = ?", [(e,) for e in event_ids])

    def bury(self, scan: Scan, reason: str, refused_at: datetime) -> None:
        """Move a scan the server refused as malformed to the dead-letter table."""
        self._bury("event_id = ?", scan.event_id, reason, refused_at)

    def bury_campaign(self, campaign_id: int, reason: str, refused_at: datetime) -> int:
        """Move every queued read of a campaign the server will take no reads for (unknown,
        closed) to the dead-letter table; how many there were."""
        return self._bury("campaign_id = ?", campaign_id, reason, refused_at)

    def _bury(self, where: str, value: str | int, reason: str, refused_at: datetime) -> int:
        with self._transaction() as db:
            db.execute(
                f"INSERT INTO dead_letter ({COLUMNS}, reason, refused_at) "
                f"SELECT {COLUMNS}, ?, ? FROM scan WHERE {where}",
                (reason, refused_at.isoformat(), value),
            )
            return db.execute(f"DELETE FROM scan WHERE {where}", (value,)).rowcount

    def dead_letters(self) -> list[DeadLetter]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {COLUMNS}, reason, refused_at FROM dead_letter ORDER BY station_seq"
            ).fetchall()
        return [DeadLetter(Scan.from_row(row[:-2]), row[-2], row[-1]) for row in rows]

    def count(self, campaign_id: int | None = None) -> int:
        """How many wait: all, or only the reads of one campaign."""
        where, params = (
            ("WHERE campaign_id = ?", (campaign_id,)) if campaign_id is not None else ("", ())
        )
        with self._lock:
            (n,) = self._db.execute(f"SELECT count(*) FROM scan {where}", params).fetchone()
        return int(n)

    def waiting(self) -> dict[int | None, int]:
        """How many wait per campaign (``None``: desk scans)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT campaign_id, count(*) FROM scan GROUP BY campaign_id "
                "ORDER BY campaign_id IS NOT NULL, campaign_id"
            ).fetchall()
        return {campaign: int(n) for campaign, n in rows}
