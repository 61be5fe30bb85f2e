"""Group commit: concurrent writes share one transaction and its one durable commit.

Eight stations posting scans at once used to take eight transactions one after the other, each
waiting for the previous one's commit, and on SQLite for the busy handler, which polls the write
lock in sleeps of up to 100 ms (a 5 ms scan became a 2 s one). Here one writer thread per process
takes whatever work is queued, runs each piece in a SAVEPOINT of one transaction, commits once,
and only then hands each piece its answer:

- an answer always means a committed change (SQLite ``synchronous=FULL``, PostgreSQL's flushed
  WAL): a crash before the commit loses only work nobody was told about;
- pieces run in the order they were queued, one after the other, each seeing the ones before it,
  so the hash chain and the idempotency checks see exactly what they would see one request at a
  time;
- a piece that raises is rolled back to its savepoint alone and gets its own error; a commit that
  fails fails every piece of the group. (A group of one piece, or of one joint call, runs
  without a SAVEPOINT: rolling back the transaction takes nothing else with it.)

Work that can be done for many requests at once (scans: one lookup of all the group's tags,
one insert of all their events) is submitted with :meth:`GroupWriter.run_together`: consecutive
pieces of the same function are handed to it in one call, in one savepoint. If that call fails,
each of its pieces is run again alone, so one bad request still fails alone.

The writer never waits for more work to arrive: whatever queued while the previous group was
committing forms the next group, so a lone request is not delayed. PostgreSQL gets the same (one
writer per process; several processes still serialise on the log head row, see audit).

Work run here must not open transactions of its own (``independent_transaction``): rolling the
shared transaction back would take the other pieces with it.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.core.db import conflict

log = logging.getLogger("mediatrack.writer")

T = TypeVar("T")

# Pieces per group at most: a bound on one transaction's size and on the wait of the last piece.
MAX_GROUP = 64


# Does the work of many requests in one call: one answer per item, in the items' order.
Together = Callable[[Session, list[Any]], list[Any]]


@dataclass(eq=False)
class _Piece(Generic[T]):
    work: Callable[[Session], T]
    answer: Future[T] = field(default_factory=Future)
    # Set for work submitted with run_together: the function and this request's item.
    together: Together | None = None
    item: Any = None


class GroupWriter:
    """The process's writer thread for one engine (started on first use, stopped with the app)."""

    def __init__(self, engine: Engine, *, max_group: int = MAX_GROUP) -> None:
        self.engine = engine
        self.max_group = max_group
        self._queue: queue.SimpleQueue[_Piece[Any] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.groups = 0  # committed groups (for tests and the benchmark)

    def submit(self, work: Callable[[Session], T]) -> Future[T]:
        """Queue ``work``; its future is set after the commit of the group that ran it."""
        return self._queue_piece(_Piece(work))

    async def run(self, work: Callable[[Session], T]) -> T:
        """``work``'s answer, once the group that ran it is committed."""
        return await asyncio.wrap_future(self.submit(work))

    def submit_together(self, together: Together, item: Any) -> Future[Any]:
        """Queue ``item`` for ``together``, which may run it with its queued neighbours."""
        alone = _Piece(lambda session: together(session, [item])[0], together=together, item=item)
        return self._queue_piece(alone)

    async def run_together(self, together: Together, item: Any) -> Any:
        return await asyncio.wrap_future(self.submit_together(together, item))

    def _queue_piece(self, piece: _Piece[T]) -> Future[T]:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="group-writer", daemon=True)
                self._thread.start()
            self._queue.put(piece)
        return piece.answer

    def stop(self) -> None:
        """Finish what is queued, then end the thread (the app is shutting down)."""
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is None:
                return
            self._queue.put(None)
        thread.join()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            stopping = False
            while len(group) < self.max_group:
                try:
                    piece = self._queue.get_nowait()
                except queue.Empty:
                    break
                if piece is None:
                    stopping = True
                    break
                group.append(piece)
            self._commit(group)
            if stopping:
                return

    def _commit(self, group: list[_Piece[Any]]) -> None:
        results: list[Answer] = []
        runs = _runs(group)
        # A group of one run (a lone station's scan, or one joint call) needs no SAVEPOINT on
        # its first try: if it fails, the whole transaction rolls back, and nothing else is in
        # it. A SAVEPOINT and its release were about a twentieth of a lone scan's work.
        attempt = _in_transaction if len(runs) == 1 else _in_savepoint
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                try:
                    for run in runs:
                        results += _run(session, run, attempt)
                    session.commit()
                except BaseException:
                    # Explicitly: closing the session after a failed commit can leave the
                    # connection inside its transaction when it goes back to the pool.
                    session.rollback()
                    raise
            self.groups += 1
        except BaseException as exc:  # the commit failed: nothing of the group was saved
            log.error("a group of %d writes failed to commit: %s", len(group), type(exc).__name__)
            failure = conflict(exc) if isinstance(exc, IntegrityError) else exc
            for piece in group:
                piece.answer.set_exception(failure)
            return
        for piece, value, error in results:
            if error is None:
                piece.answer.set_result(value)
            else:
                piece.answer.set_exception(error)


def _runs(group: list[_Piece[Any]]) -> list[list[_Piece[Any]]]:
    """The group cut into runs: neighbours submitted together with the same function, and
    every other piece alone."""
    runs: list[list[_Piece[Any]]] = []
    for piece in group:
        last = runs[-1] if runs else None
        if piece.together is not None and last and last[0].together is piece.together:
            last.append(piece)
        else:
            runs.append([piece])
    return runs


Answer = tuple[_Piece[Any], Any, BaseException | None]


def _run(session: Session, run: list[_Piece[Any]], attempt: Attempt) -> list[Answer]:
    """One run's answers: all in one call when it can be, else (or if that fails) one by one,
    each in its own SAVEPOINT."""
    together = run[0].together
    if together is not None and len(run) > 1:
        values, error = attempt(session, lambda s: together(s, [p.item for p in run]))
        if error is None and values is not None:
            return [(piece, value, None) for piece, value in zip(run, values, strict=True)]
        log.info("a group's joint work failed (%s); its pieces run alone", type(error).__name__)
        return [(piece, *_in_savepoint(session, piece.work)) for piece in run]
    # Not submitted together, or alone: a run of one piece.
    return [(run[0], *attempt(session, run[0].work))]


def _in_savepoint(
    session: Session, work: Callable[[Session], T]
) -> tuple[T | None, BaseException | None]:
    """Run one piece; on error roll back only its own changes and keep its error."""
    savepoint = session.begin_nested()
    try:
        value = work(session)
        savepoint.commit()
    except Exception as exc:
        if savepoint.is_active:
            savepoint.rollback()
        return None, conflict(exc) if isinstance(exc, IntegrityError) else exc
    return value, None


def _in_transaction(
    session: Session, work: Callable[[Session], T]
) -> tuple[T | None, BaseException | None]:
    """Run the group's only work; on error roll back the whole transaction and keep its error
    (the session begins a fresh transaction for whatever comes next)."""
    try:
        return work(session), None
    except Exception as exc:
        session.rollback()
        return None, conflict(exc) if isinstance(exc, IntegrityError) else exc


# How one piece's (or one joint call's) first try is run: _in_savepoint or _in_transaction.
Attempt = Callable[[Session, Callable[[Session], Any]], tuple[Any, BaseException | None]]


async def get_writer(request: Request) -> GroupWriter:
    """Async: FastAPI calls it on the event loop, not through the thread pool."""
    writer: GroupWriter = request.app.state.writer
    return writer


WriterDep = Annotated[GroupWriter, Depends(get_writer)]
