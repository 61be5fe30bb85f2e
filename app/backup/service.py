"""Backups that restore: a consistent copy taken while the service runs, and its restore.

SQLite: the online backup API copies the pages of one read transaction. In WAL mode that
transaction is a snapshot, so the service keeps writing meanwhile and the copy holds exactly
what was committed when it began; holding it open across the copy's steps also keeps the copy
from restarting each time the service commits. PostgreSQL: ``pg_dump`` in its custom format on
a snapshot exported by our own transaction, so the counts printed are those of the dump.

A backup is written beside its final name and renamed into place when complete, so a failed
one never leaves a half-written file under that name. It holds patient data: mode 0600.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import quote

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import PoolProxiedConnection

from app.audit.models import CustodyEvent
from app.carriers.models import Carrier
from app.core.db import make_engine, read_only
from app.core.errors import N_, AppError, Phrase

Progress = Callable[[str], None]

# Pages copied per step of the SQLite backup API (4 MB at the default page size), and how
# often long work reports how far it got.
_STEP_PAGES = 1024
_PROGRESS_SECONDS = 2.0

_SQLITE_MAGIC = b"SQLite format 3\x00"
_PG_DUMP_MAGIC = b"PGDMP"


_NO_BACKUP = N_("no backup was written.")
# Both restores write in one transaction.
_UNCHANGED = N_("the database was left as it was.")


class BackupError(AppError):
    """A backup or restore that did not happen, said in a sentence."""


@dataclass(frozen=True)
class Summary:
    events: int
    carriers: int
    size: int  # bytes of the backup file


def backup(*, url: str, out: Path, progress: Progress) -> Summary:
    """Write a consistent copy of the database at ``url`` to ``out``."""
    engine = make_engine(url)
    try:
        if engine.dialect.name == "sqlite":
            counts = _backup_sqlite(engine, out, progress)
        else:
            counts = _backup_postgres(engine, out, progress)
    except DBAPIError as exc:
        raise BackupError(
            "The backup failed ({reason}); no backup was written.", reason=_reason(exc)
        ) from exc
    except (sqlite3.Error, OSError) as exc:
        raise BackupError(
            "The backup failed ({reason}); no backup was written.", reason=_os_reason(exc)
        ) from exc
    finally:
        engine.dispose()
    return Summary(*counts, size=out.stat().st_size)


def restore(*, url: str, source: Path, force: bool, progress: Progress) -> Summary:
    """Load ``source`` into the database at ``url``, which must hold no carriers or events
    unless ``force``."""
    kind = _kind_of(source)
    engine = make_engine(url)
    try:
        if kind != engine.dialect.name:
            raise BackupError(
                "{source} is a {kind} backup but the configured database is {configured}: "
                "restore it into a database of its kind.",
                source=source, kind=_KIND_NAMES[kind], configured=_KIND_NAMES[engine.dialect.name],
            )
        with engine.connect() as conn:
            events, carriers = _counts(conn)
        if (events or carriers) and not force:
            raise BackupError(
                "The configured database already holds {events} custody events and "
                "{carriers} carriers; nothing was restored. Restore into an empty or new "
                "database, or add --force to replace its contents with the backup.",
                events=events, carriers=carriers,
            )
        if kind == "sqlite":
            _restore_sqlite(engine, source, progress)
        else:
            _restore_postgres(engine, source, progress)
        with engine.connect() as conn:
            counts = _counts(conn)
    except DBAPIError as exc:
        raise BackupError(
            "The restore failed ({reason}); the database was left as it was.",
            reason=_reason(exc),
        ) from exc
    except (sqlite3.Error, OSError) as exc:
        raise BackupError(
            "The restore failed ({reason}); the database was left as it was.",
            reason=_os_reason(exc),
        ) from exc
    finally:
        engine.dispose()
    return Summary(*counts, size=source.stat().st_size)


# --- SQLite ------------------------------------------------------------------------------


def _backup_sqlite(engine: Engine, out: Path, progress: Progress) -> tuple[int, int]:
    path = _sqlite_path(engine.url)
    if not path.is_file():
        # Connecting would create an empty database and back that up.
        raise BackupError("There is no database at {path} to back up.", path=path)
    with _written_aside(out) as aside, read_only(engine).connect() as conn, conn.begin():
        counts = _counts(conn)  # opens the read transaction the copy is taken in
        target = sqlite3.connect(aside, isolation_level=None)
        try:
            source = _sqlite3(conn.connection)
            source.backup(target, pages=_STEP_PAGES, progress=_copy_progress(progress))
            # The copy takes the source's WAL mode; a backup is one file, without a -wal.
            target.execute("PRAGMA journal_mode=DELETE")
        finally:
            target.close()
    return counts


def _restore_sqlite(engine: Engine, source: Path, progress: Progress) -> None:
    backup_db = sqlite3.connect(f"file:{quote(str(source.absolute()))}?mode=ro", uri=True)
    # The engine's own connection: WAL and synchronous=FULL, as the service writes. The
    # backup API writes the whole database in one transaction: all of it or nothing.
    target = engine.raw_connection()
    try:
        backup_db.backup(_sqlite3(target), pages=_STEP_PAGES, progress=_copy_progress(progress))
    finally:
        target.close()
        backup_db.close()


def _sqlite_path(url: URL) -> Path:
    if url.database in (None, "", ":memory:"):
        raise BackupError("An in-memory database cannot be backed up or restored.")
    return Path(str(url.database))


def _copy_progress(progress: Progress) -> Callable[[int, int, int], None]:
    last = time.monotonic()

    def step(_status: int, remaining: int, total: int) -> None:
        nonlocal last
        if remaining and time.monotonic() - last >= _PROGRESS_SECONDS:
            last = time.monotonic()
            progress(f"{100 * (total - remaining) // total}% of {total} pages copied")

    return step


# --- PostgreSQL --------------------------------------------------------------------------


def _backup_postgres(engine: Engine, out: Path, progress: Progress) -> tuple[int, int]:
    pg_dump = _tool("pg_dump")
    conninfo, env = _libpq(engine.url)
    snapshot_engine = read_only(engine).execution_options(isolation_level="REPEATABLE READ")
    with _written_aside(out) as aside, snapshot_engine.connect() as conn, conn.begin():
        # The first statement fixes the transaction's snapshot: the counts and the dump
        # (which imports it) see the same committed rows.
        snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
        counts = _counts(conn)
        with aside.open("wb") as file:  # keeps the mode 0600 it was created with
            _run(
                [pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--dbname={conninfo}"],
                env=env,
                stdout=file,
                progress=lambda: progress(f"{size_text(aside.stat().st_size)} written"),
                failed=_NO_BACKUP,
            )
    return counts


def _restore_postgres(engine: Engine, source: Path, progress: Progress) -> None:
    pg_restore = _tool("pg_restore")
    conninfo, env = _libpq(engine.url)
    started = time.monotonic()
    _run(
        # --clean --if-exists: a migrated but empty database (or one replaced with --force)
        # has the tables already. --no-owner: the restoring role owns what it creates.
        [pg_restore, "--clean", "--if-exists", "--no-owner", "--single-transaction",
         "--exit-on-error", f"--dbname={conninfo}", str(source)],
        env=env,
        stdout=None,
        progress=lambda: progress(f"restoring, {time.monotonic() - started:.0f} s so far"),
        failed=_UNCHANGED,
    )


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            "{name} was not found on PATH; install the PostgreSQL client programs of the "
            "server's version (Debian: postgresql-client) and try again.", name=name
        )
    return found


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """The database as a libpq URI for pg_dump/pg_restore, its password in the environment
    (a command line is visible to every user of the machine)."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    conninfo = url.set(drivername="postgresql", password=None)
    return conninfo.render_as_string(hide_password=False), env


def _run(
    command: list[str],
    *,
    env: dict[str, str],
    stdout: IO[bytes] | None,
    progress: Callable[[], None],
    failed: str,
) -> None:
    """Run a PostgreSQL client program, reporting progress while it works."""
    name = Path(command[0]).name
    with subprocess.Popen(command, stdout=stdout, stderr=subprocess.PIPE, env=env) as proc:
        while True:
            try:
                _, errors = proc.communicate(timeout=_PROGRESS_SECONDS)
                break
            except subprocess.TimeoutExpired:
                progress()
    if proc.returncode != 0:
        raise BackupError(
            "{name} failed ({reason}); {then}",
            name=name, reason=_tool_reason(name, errors), then=Phrase(failed),
        )


def _tool_reason(name: str, errors: bytes) -> str:
    """The program's last error line: a connection, permission or lock problem. Never the
    DETAIL or "Command was" lines after it, which may quote a row."""
    lines = errors.decode(errors="replace").strip().splitlines()
    marked = [line for line in lines if line.startswith(f"{name}: error: ")]
    if not marked:
        return "it gave no reason"
    return " ".join(marked[-1].removeprefix(f"{name}: error: ").split())


# --- both --------------------------------------------------------------------------------


def _counts(conn: Connection) -> tuple[int, int]:
    """Custody events and carriers in the database (0 for a table not created yet)."""
    found = inspect(conn)

    def count(table: str) -> int:
        if not found.has_table(table):
            return 0
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())

    return count(CustodyEvent.__tablename__), count(Carrier.__tablename__)


@contextmanager
def _written_aside(out: Path) -> Iterator[Path]:
    """A new file (mode 0600) beside ``out``, renamed to ``out`` once the block succeeds and
    its content is on disk; removed, with SQLite's side files, if the block fails."""
    try:
        fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
    except OSError as exc:
        raise BackupError(
            "Cannot write a backup in {parent} ({strerror}); no backup was written.",
            parent=out.parent, strerror=exc.strerror,
        ) from exc
    os.close(fd)
    aside = Path(name)
    try:
        yield aside
        _fsync(aside)
        os.replace(aside, out)
        _fsync(out.parent)  # the rename itself
    finally:
        for leftover in ("", "-journal", "-wal", "-shm"):
            Path(f"{aside}{leftover}").unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_KIND_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def _kind_of(source: Path) -> str:
    try:
        with source.open("rb") as file:
            start = file.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise BackupError(
            "Cannot read {source} ({strerror}); nothing was restored.",
            source=source, strerror=exc.strerror,
        ) from exc
    if start == _SQLITE_MAGIC:
        return "sqlite"
    if start.startswith(_PG_DUMP_MAGIC):
        return "postgresql"
    raise BackupError(
        "{source} is neither a SQLite backup nor a pg_dump custom-format file; nothing "
        "was restored.", source=source
    )


def _sqlite3(pooled: PoolProxiedConnection) -> sqlite3.Connection:
    driver = pooled.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    return driver


def _reason(exc: DBAPIError) -> str:
    """The driver's primary message: not the SQL statement SQLAlchemy appends, nor
    PostgreSQL's DETAIL line, which may quote a row."""
    lines = str(exc.orig).strip().splitlines()
    return " ".join(lines[0].split()) if lines else type(exc.orig).__name__


def _os_reason(exc: sqlite3.Error | OSError) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return str(exc) or type(exc).__name__


def size_text(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{max(1, round(size / 1e3))} kB"
