"""SQLite's WAL checkpoints in a thread of their own, off the requests' commits.

SQLite copies the WAL back into the database file (a checkpoint) when a commit finds the WAL
over ``wal_autocheckpoint`` pages, 1,000 by default (sqlite.org/wal.html, "Automatic
Checkpoint"). That commit then also writes and syncs the pages of the hundred or so commits
before it, and the station or clerk waiting for it waits for them too: it was a scan's and a
lookup's slowest percent. Every connection (app.core.db) gets a threshold far higher, kept only
as a safety net should this thread fall behind or not run (the CLI), and the serving process
runs this thread: a PASSIVE checkpoint every ``interval`` seconds, which takes no lock a writer
waits for, while writers go on appending to the WAL (sqlite.org/pragma.html#pragma_wal_checkpoint).

Durability is the WAL's (``synchronous=FULL``): an answered write is in the synced WAL
whether or not a checkpoint has copied it. PostgreSQL checkpoints on its own; nothing here.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine

log = logging.getLogger("mediatrack.wal")

# The safety net: at 4 KiB a page, a WAL of about 40 MB before a commit checkpoints itself.
SAFETY_NET_PAGES = 10_000


class WalCheckpointer:
    """Checkpoints an SQLite database file's WAL every ``interval`` seconds, from start to
    stop. On other engines it does nothing."""

    def __init__(self, engine: Engine, *, interval: float = 1.0) -> None:
        self.engine = engine
        self.interval = interval
        self.passes = 0  # checkpoints run (for tests)
        self.last: tuple[int, int, int] | None = None  # busy, WAL frames, frames copied
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        database = engine.url.database
        self.active = engine.dialect.name == "sqlite" and database not in (None, "", ":memory:")

    def start(self) -> None:
        # An app may start again after a stop (a test client per test): begin afresh.
        if not self.active or (self._thread is not None and self._thread.is_alive()):
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoints", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def run_once(self) -> None:
        """One PASSIVE checkpoint, on a pooled connection outside any transaction (the raw
        DBAPI connection: SQLAlchemy would open BEGIN IMMEDIATE, see app.core.db)."""
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            busy, frames, copied = cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            cursor.close()
        finally:
            raw.close()
        self.last = (busy, frames, copied)
        self.passes += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception as exc:  # the next pass tries again; the safety net still holds
                log.warning("a WAL checkpoint failed: %s", type(exc).__name__)
