"""The station's local outbox: every scan is durable here before it is sent.

SQLite in WAL mode with ``synchronous=FULL``: a scan the agent has reported as queued survives a
power cut. Station sequence numbers come from a counter in the same file, assigned in the same
transaction as the insert, so they stay strictly increasing across restarts and never repeat
(the service uses ``(station, station_seq)`` to record each scan once). A scan leaves the outbox
only when the service acknowledged its event id, or moves to the dead-letter table when the
service refused it as malformed (it will never take it as it is; it stays there, with the reason,
for a person to look at: never dropped, never blocking the scans behind it).
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

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


@dataclass(frozen=True, slots=True)
class Scan:
    event_id: str
    station_seq: int
    tag_uid: str
    technology: str
    read_at: str  # ISO 8601 with timezone

    def as_read(self) -> dict[str, str | int]:
        """The read as ``POST /scans`` takes it."""
        return {"event_id": self.event_id, "station_seq": self.station_seq,
                "tag_uid": self.tag_uid, "technology": self.technology, "read_at": self.read_at}


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

    def add(self, tag_uid: str, technology: str, read_at: datetime) -> Scan:
        """Record a scan durably and give it the next station sequence number."""
        with self._transaction() as db:
            (seq,) = db.execute(
                "UPDATE counter SET value = value + 1 WHERE name = 'last_station_seq' "
                "RETURNING value"
            ).fetchone()
            scan = Scan(str(uuid.uuid4()), seq, tag_uid, technology, read_at.isoformat())
            db.execute(
                "INSERT INTO scan VALUES (?, ?, ?, ?, ?)",
                (scan.station_seq, scan.event_id, scan.tag_uid, scan.technology, scan.read_at),
            )
        return scan

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
        """The oldest unacknowledged scans, in sequence order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT event_id, station_seq, tag_uid, technology, read_at FROM scan "
                "ORDER BY station_seq LIMIT ?", (limit,)
            ).fetchall()
        return [Scan(*row) for row in rows]

    def acknowledge(self, event_ids: list[str]) -> None:
        with self._transaction() as db:
            db.executemany("DELETE FROM scan WHERE event_id = ?", [(e,) for e in event_ids])

    def bury(self, scan: Scan, reason: str, refused_at: datetime) -> None:
        """Move a scan the server refused as malformed to the dead-letter table."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO dead_letter SELECT station_seq, event_id, tag_uid, technology, "
                "read_at, ?, ? FROM scan WHERE event_id = ?",
                (reason, refused_at.isoformat(), scan.event_id),
            )
            db.execute("DELETE FROM scan WHERE event_id = ?", (scan.event_id,))

    def dead_letters(self) -> list[DeadLetter]:
        with self._lock:
            rows = self._db.execute(
                "SELECT event_id, station_seq, tag_uid, technology, read_at, reason, refused_at "
                "FROM dead_letter ORDER BY station_seq"
            ).fetchall()
        return [DeadLetter(Scan(*row[:5]), row[5], row[6]) for row in rows]

    def count(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT count(*) FROM scan").fetchone()
        return int(n)
