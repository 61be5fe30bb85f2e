"""Walk the stored hash chain: every entry in order, rehashed, up to the first that fails.

An entry is checked against its predecessor's *stored* hash, and the walk stops at the first
failure, so wherever it has got to every earlier entry's stored hash is also its recomputed one.
That makes the log cut into runs of entries (by sequence number) that can be checked apart, each
run's first entry only once the run before has ended. A long log is walked in two such runs at
once: the first half by a second process on its own connection, the second half here, in the
caller's transaction. The answer is the same as one walk from the start (the first bad entry,
named alike); only the time differs.

This module imports little (no FastAPI, no service code), so the second process starts fast.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Row, String, func, type_coerce
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from app.audit.chain import ENTRY_FIELDS, GENESIS, chain_hash, entry_document, stored_entry_text
from app.audit.models import CustodyEvent, LogHead
from app.core.db import make_engine, read_only

log = logging.getLogger(__name__)

# Below this many entries one walk is quicker than starting a second process (about half a
# second to start and import).
SPLIT_FROM = 200_000
# The folder holding this copy of app/: the second process runs the same code.
_CODE_ROOT = str(Path(__file__).resolve().parents[2])
# Rows fetched at a time: memory stays flat however long the log (a server-side cursor on
# PostgreSQL; SQLite's cursor steps through the table as it is read).
BATCH = 5_000


def _raw_columns(recorded_at: Any) -> tuple[Any, ...]:
    return tuple(
        recorded_at.label(name) if name == "recorded_at" else col(getattr(CustodyEvent, name))
        for name in (*ENTRY_FIELDS, "prev_hash", "hash")
    )


# The time each database's way, read as naive UTC. SQLite: the text as stored, so that a row
# altered behind the service's back with a time that is no time is named as a bad entry, not
# a crash in the driver's date parsing. PostgreSQL (whose timestamptz cannot hold one): turned
# to a timestamp in UTC by the server, for which psycopg builds a naive datetime, the cheaper
# to write out (stored_entry_text).
_RAW_COLUMNS: dict[str, tuple[Any, ...]] = {
    "sqlite": _raw_columns(type_coerce(col(CustodyEvent.recorded_at), String)),
    "postgresql": _raw_columns(func.timezone("UTC", col(CustodyEvent.recorded_at))),
}
_SEQ, _PREV_HASH, _HASH = 0, len(ENTRY_FIELDS), len(ENTRY_FIELDS) + 1


@dataclass(frozen=True)
class Chain:
    """A log whose entries all chain: its size, its last hash, its hash at a checkpoint."""

    size: int
    head: str
    at_checkpoint: str | None


@dataclass(frozen=True)
class Break:
    """The first entry that does not fit; ``head`` is the hash of the entries before it."""

    seq: int
    head: str
    reason: str


@dataclass(frozen=True)
class _Run:
    """A run of entries checked apart. ``first`` is checked by whoever knows what precedes it;
    ``broken`` is the first later entry that fails, taking ``first`` as sound."""

    first: tuple[Any, ...] | None
    broken: Break | None = None
    last_seq: int = 0
    last_hash: str = GENESIS
    at_checkpoint: str | None = None


def walk(session: Session, *, checkpoint_size: int | None) -> Chain | Break:
    """Every entry in order, rehashed; the first that is missing, misplaced or altered fails."""
    split = _split_point(session)
    if split is None:
        return _join([_check_run(_rows(session, None, None), checkpoint_size)])
    url = session.get_bind().engine.url.render_as_string(hide_password=False)
    # A plain subprocess, not multiprocessing: that would import the caller's main script
    # again in the child (a server's, a script's), which may not expect it.
    worker = subprocess.Popen(
        # -P: the caller's working folder does not go on the path; PYTHONPATH puts this copy
        # of app/ first.
        [sys.executable, "-P", "-m", "app.audit.verifier"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_CODE_ROOT, _path()]))},
    )
    try:
        _send(worker, (url, split, checkpoint_size))
        second = _check_run(_rows(session, split, None), checkpoint_size)
        first = _received(worker)
        if first is None:
            # The second process failed (it could not reach the database, it was killed): the
            # answer must not depend on it, so this process walks that half too.
            log.warning("audit verify: the second process failed; walking its half here")
            first = _check_run(_rows(session, None, split), checkpoint_size)
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.wait()
    return _join([first, second])


def _path() -> str | None:
    return os.environ.get("PYTHONPATH")


def _split_point(session: Session) -> int | None:
    """Where the log is cut in two, or None to walk it in one go: a short log, one core, a
    database another process cannot open, or a transaction that has appended (the second
    process would not see its uncommitted entries)."""
    url = session.get_bind().engine.url
    in_memory = url.get_backend_name() == "sqlite" and (
        url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"
    )
    if in_memory or len(os.sched_getaffinity(0)) < 2 or "log_head" in session.info:
        return None
    size = session.execute(sa_select(col(LogHead.seq)).where(col(LogHead.id) == 1)).scalar()
    if size is None or size < SPLIT_FROM:
        return None
    # The second process starts late and its half is read from the start of the table: a
    # little less than half evens the two out (at 0.45 it ended 7-13 % of the walk before this
    # process at 2 million entries; 0.47 is closer, a fixed start counting less on a longer log).
    return int(size * 0.47)


def _rows(session: Session, after: int | None, upto: int | None) -> Iterator[Row[Any]]:
    columns = _RAW_COLUMNS[session.get_bind().dialect.name]
    query = sa_select(*columns).order_by(col(CustodyEvent.seq))
    if after is not None:
        query = query.where(col(CustodyEvent.seq) > after)
    if upto is not None:
        query = query.where(col(CustodyEvent.seq) <= upto)
    # Core rows, not the ORM's: the session's connection, so its transaction.
    yield from session.connection().execute(query.execution_options(yield_per=BATCH))


def _send(worker: subprocess.Popen[bytes], job: tuple[str, int, int | None]) -> None:
    assert worker.stdin is not None
    try:
        worker.stdin.write(pickle.dumps(job))
        worker.stdin.close()
    except OSError:
        pass  # it died at once: _received says so


def _received(worker: subprocess.Popen[bytes]) -> _Run | None:
    assert worker.stdout is not None
    try:
        run = pickle.loads(worker.stdout.read())
    except (OSError, EOFError, pickle.UnpicklingError):
        return None
    return run if isinstance(run, _Run) and worker.wait() == 0 else None


def _serve_as_worker() -> None:
    """The second process: read (database URL, last sequence number, checkpoint size) on
    stdin, check the entries up to that number, write the run to stdout."""
    url, upto, checkpoint_size = pickle.loads(sys.stdin.buffer.read())
    # make_engine: the driver's errors never carry values; read_only: on SQLite a plain WAL
    # reader, since the caller's transaction may hold the write lock meanwhile.
    engine = read_only(make_engine(url))
    try:
        with Session(engine) as session:
            run = _check_run(_rows(session, None, upto), checkpoint_size)
    finally:
        engine.dispose()
    sys.stdout.buffer.write(pickle.dumps(run))


def _check_run(rows: Iterable[Row[Any]], checkpoint_size: int | None) -> _Run:
    iterator = iter(rows)
    first = next(iterator, None)
    if first is None:
        return _Run(None)
    at_checkpoint = first[_HASH] if first[_SEQ] == checkpoint_size else None
    prev_seq, prev_hash = first[_SEQ], first[_HASH]
    for row in iterator:
        reason = _check_entry(row, prev_seq + 1, prev_hash)
        if reason is not None:
            return _Run(tuple(first), Break(prev_seq + 1, prev_hash, reason))
        prev_seq, prev_hash = row[_SEQ], row[_HASH]
        if prev_seq == checkpoint_size:
            at_checkpoint = prev_hash
    return _Run(tuple(first), None, prev_seq, prev_hash, at_checkpoint)


def _join(runs: list[_Run]) -> Chain | Break:
    """The runs, in order, as one walk from the first entry."""
    expected_seq, expected_prev, at_checkpoint = 1, GENESIS, None
    for run in runs:
        if run.first is None:
            continue
        reason = _check_entry(run.first, expected_seq, expected_prev)
        if reason is not None:
            return Break(expected_seq, expected_prev, reason)
        if run.broken is not None:
            return run.broken
        expected_seq, expected_prev = run.last_seq + 1, run.last_hash
        at_checkpoint = run.at_checkpoint or at_checkpoint
    return Chain(expected_seq - 1, expected_prev, at_checkpoint)


def _check_entry(
    row: Row[Any] | tuple[Any, ...], expected_seq: int, expected_prev: str
) -> str | None:
    """Why the entry does not follow the one before (sequence number ``expected_seq`` - 1,
    hash ``expected_prev``), or None when it does."""
    seq = row[_SEQ]
    if seq != expected_seq:
        if seq > expected_seq:
            return f"entry {expected_seq} is missing (the log jumps to {seq})"
        return f"entry {seq} appears twice or out of order"
    if row[_PREV_HASH] != expected_prev:
        return (
            f"entry {seq} does not follow entry {seq - 1} "
            "(inserted, removed or reordered entries)"
        )
    try:
        computed = _fast_hash(row, expected_prev) or chain_hash(expected_prev, _raw_document(row))
    except (ValueError, TypeError) as exc:
        return f"entry {seq} was altered: {exc}"
    if row[_HASH] != computed:
        return f"entry {seq} was altered (its content no longer matches its hash)"
    return None


def _fast_hash(row: Row[Any] | tuple[Any, ...], prev: str) -> str | None:
    """``chain_hash`` by way of ``stored_entry_text``; None where that does not answer, or
    where the text cannot be hashed (the long way then says why)."""
    text = stored_entry_text(*row[:_PREV_HASH])
    if text is None:
        return None
    try:
        leaf = hashlib.sha256(b"\x00" + text.encode()).digest()
        return hashlib.sha256(bytes.fromhex(prev) + leaf).hexdigest()
    except ValueError:
        return None


def _raw_document(row: Row[Any] | tuple[Any, ...]) -> dict[str, Any]:
    """The document an entry's hash covers, from its row as stored.

    Raises:
        ValueError: the row holds a time that is not one, or a payload that is not JSON.
    """
    fields = dict(zip(ENTRY_FIELDS, row, strict=False))
    recorded_at = fields["recorded_at"]
    if isinstance(recorded_at, str):
        try:
            fields["recorded_at"] = datetime.fromisoformat(recorded_at)
        except ValueError:
            raise ValueError("its time is not a time") from None
    elif not isinstance(recorded_at, datetime):  # SQLite keeps a number or bytes written there
        raise ValueError("its time is not a time")
    try:
        return entry_document(**fields)
    except json.JSONDecodeError:
        raise ValueError("its payload is not JSON") from None


if __name__ == "__main__":
    # Run as ``python -m app.audit.verifier``: the run is built by the imported module, so that
    # it unpickles in the caller as app.audit.verifier's own class.
    from app.audit.verifier import _serve_as_worker

    _serve_as_worker()
