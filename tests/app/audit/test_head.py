"""The log head is read once per transaction, and only for the transaction it was read in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, event
from sqlmodel import Session

from app.audit import service as audit_service
from app.core.db import read_only, session_scope
from app.core.principal import SYSTEM


@pytest.fixture
def head_reads(engine: Engine) -> Iterator[list[str]]:
    """Every statement that reads the log head, as it runs."""
    seen: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM log_head" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    yield seen
    event.remove(engine, "before_cursor_execute", note)


def _append(session: Session, action: str) -> None:
    audit_service.append(session, principal=SYSTEM, action=action, payload={})


def test_a_custody_change_reads_the_head_once(engine: Engine, head_reads: list[str]) -> None:
    """The first call comes before any statement has begun the transaction, as in a
    request's session: the head read then is the one every later call gets."""
    with session_scope(engine) as session:
        audit_service.lock_head(session)  # as every custody change does first
        _append(session, "one")
        _append(session, "two")
    assert len(head_reads) == 1


def test_a_sessions_next_transaction_chains_after_what_others_appended(
    engine: Engine, head_reads: list[str]
) -> None:
    with Session(engine) as session:
        _append(session, "first")
        session.commit()
        with session_scope(engine) as other:
            _append(other, "meanwhile")
        _append(session, "second")  # a new transaction: the head is read again
        session.commit()
    assert len(head_reads) == 3
    with session_scope(read_only(engine)) as session:
        report = audit_service.verify(session)
        actions = [e.action for e in audit_service.list_events(
            session, carrier_id=None, after_seq=0, limit=10, until=10
        )]
    assert report.ok, report.reason
    assert actions == ["first", "meanwhile", "second"]


def test_one_event_and_the_heads_move_are_one_statement_on_postgresql(engine: Engine) -> None:
    """PostgreSQL inserts the event and moves the head in one statement (a round trip fewer in
    every lookup, check-out and return); SQLite takes two. The head is the event's either way."""
    statements: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    with session_scope(engine) as session:
        audit_service.lock_head(session)
        event.listen(engine, "before_cursor_execute", note)
        try:
            appended = audit_service.append(session, principal=SYSTEM, action="one", payload={})
        finally:
            event.remove(engine, "before_cursor_execute", note)
    assert len(statements) == (1 if engine.dialect.name == "postgresql" else 2)
    with session_scope(read_only(engine)) as session:
        assert audit_service.head_seq(session) == appended.seq
        report = audit_service.verify(session)
    assert report.ok, report.reason
