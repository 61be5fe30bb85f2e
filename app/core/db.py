"""Engines chosen by URL, connection settings, and the request-scoped transaction.

SQLite: WAL, synchronous=FULL (a station's "acknowledged" is a promise that survives a power
cut), foreign keys on, a busy timeout, and every transaction opened with BEGIN IMMEDIATE so the
write lock is taken up front. A DEFERRED transaction that reads and then writes fails at once
with SQLITE_BUSY when another writer committed in between, whatever the busy timeout.
PostgreSQL: custody writes serialise on the log head row (SELECT ... FOR UPDATE), see audit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, create_engine

from app.core.errors import ConflictError, log


def make_engine(url: str, *, busy_timeout_ms: int = 10_000) -> Engine:
    parsed = make_url(url)
    # hide_parameters: a database error's text never carries the values (patient IDs).
    if parsed.get_backend_name() == "sqlite":
        in_memory = parsed.database in (None, "", ":memory:")
        if not in_memory:
            Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
            hide_parameters=True,
            # An in-memory database lives in one connection (SQLAlchemy's default pool for it).
            **({} if in_memory else {"pool_size": 8, "max_overflow": 16}),
        )
        _configure_sqlite(engine, busy_timeout_ms)
        return engine
    engine = create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        hide_parameters=True,
        # The session's zone only decides the zone psycopg puts on a timestamptz it hands
        # back (models turn every value to UTC anyway): in UTC it is Python's fixed UTC, not
        # the server's zone as a ZoneInfo, whose offset costs a lookup on every row read
        # (about a sixth of the audit walk's CPU, conversion and lookups together).
        connect_args={"options": _with_utc(parsed.query.get("options"))},
    )
    _configure_postgresql(engine)
    return engine


def _with_utc(options: str | tuple[str, ...] | None) -> str:
    """libpq's ``options`` with the session in UTC; connect_args replaces the URL's own, so a
    site's settings there (a search_path, ...) are carried over."""
    given = " ".join(options) if isinstance(options, tuple) else options
    return " ".join(filter(None, [given, "-c TimeZone=UTC"]))


# The commit that finds SQLite's WAL over this many pages copies it back into the database
# and syncs both files (sqlite.org/wal.html, "Automatic Checkpoint"), while its request waits.
# SQLite's default, 1,000 pages, made that commit take 5 to 7 ms once in about 100 scans at
# ten million events; 100 pages (about ten scans' commits) take 2 to 3 ms once in ten. A
# scan's p99 fell from 8.5 to 4.1 ms, its mean rose by a tenth, and batch ingest (whose
# commits now each checkpoint) lost about a tenth of its reads a second: a clerk waits on
# the slowest scans, nobody on a batch (docs/performance.md, "Two pauses taken out").
CHECKPOINT_PAGES = 100


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (pysqlite would defer it to the first write).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute(f"PRAGMA wal_autocheckpoint={CHECKPOINT_PAGES}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Read-only work (see read_only) may share the database with a writer.
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        # query_only makes a write in a read-only transaction fail loudly instead of
        # failing only when another writer happens to commit first (SQLITE_BUSY_SNAPSHOT).
        # It belongs to the connection, so set it only when it changes.
        if conn.info.get(READ_ONLY) != read_only:
            conn.exec_driver_sql(f"PRAGMA query_only={int(read_only)}")
            conn.info[READ_ONLY] = read_only
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _configure_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(READ_ONLY, False):
            # One snapshot for the whole transaction, as SQLite's WAL reader has: a walk of
            # the log and the head read after it must see the same entries (READ COMMITTED
            # would let appends committed in between look like a cut-off log).
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")


READ_ONLY = "mediatrack_read_only"


def read_only(engine: Engine) -> Engine:
    """The same engine for transactions that never write: on SQLite a deferred BEGIN, so they
    do not queue for the write lock (WAL readers never block the writer); on both databases a
    write attempted in one is refused, and every statement sees the same snapshot."""
    return engine.execution_options(**{READ_ONLY: True})


def conflict(exc: IntegrityError) -> ConflictError:
    """A unique-constraint race that slipped past the service checks, as the 409 it is."""
    log.info("integrity conflict: %s", type(exc.orig).__name__)
    return ConflictError(
        "This change collides with another one made at the same moment; "
        "nothing was saved. Look the carrier up again and retry."
    )


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any exception.

    Services never commit; this is the only place that does (for requests and for the CLI).
    A unique-constraint race that slipped past the service checks becomes a 409.
    """
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except IntegrityError as exc:
            session.rollback()
            raise conflict(exc) from exc
        except BaseException:
            session.rollback()
            raise


@contextmanager
def independent_transaction(engine: Engine, *, ending: Session | None = None) -> Iterator[Session]:
    """A transaction of its own, committed whatever becomes of the caller's.

    For the few records that must outlive a refused request: a failed log-in's count, a
    refused attempt in the custody log. The request's own transaction is rolled back with its
    error and would take them along. ``ending`` is the caller's session when it may already
    hold the write lock (on SQLite, BEGIN IMMEDIATE: this transaction would wait for it): its
    transaction is rolled back first, so call this only on the way to raising.
    """
    if ending is not None:
        ending.rollback()
    with session_scope(engine) as session:
        yield session


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_session(request: Request) -> Iterator[Session]:
    with session_scope(get_engine(request)) as session:
        yield session


def get_read_session(request: Request) -> Iterator[Session]:
    with session_scope(read_only(get_engine(request))) as session:
        yield session


# scope="function": the commit runs before the response is sent, so a failed commit is the
# answer the client gets and an acknowledged answer is always a committed change.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
# For routes that never write (nor log the reading): they do not wait for writers.
ReadSessionDep = Annotated[Session, Depends(get_read_session, scope="function")]
