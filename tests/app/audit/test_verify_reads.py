"""Verification reads one snapshot of the log and holds no write lock while it walks: a long
walk neither stalls the stations nor mistakes entries appended meanwhile for a cut-off log."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from app.audit import service as audit_service
from app.audit import verifier
from app.core.db import read_only, session_scope
from app.core.principal import SYSTEM

SIZE = 12


def _append(engine: Engine, n: int) -> None:
    with session_scope(engine) as session:
        for i in range(n):
            audit_service.append(session, principal=SYSTEM, action="seen", payload={"n": i})


@pytest.fixture
def log(engine: Engine) -> Engine:
    _append(engine, SIZE)
    with session_scope(engine) as session:
        assert audit_service.verify(session).ok
        return engine


def _size(engine: Engine) -> int:
    with session_scope(read_only(engine)) as session:
        report = audit_service.verify(session)
    assert report.ok, report.reason
    return report.size


def test_an_append_committed_during_the_walk_is_not_a_cut_off_log(
    log: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _size(log)
    walk = verifier.walk

    def walk_then_append(*args: object, **kwargs: object) -> object:
        walked = walk(*args, **kwargs)  # type: ignore[arg-type]
        _append(log, 1)  # committed between the walk and the read of the head
        return walked

    monkeypatch.setattr(verifier, "walk", walk_then_append)
    assert _size(log) == before  # the snapshot the walk began in, head included
    monkeypatch.setattr(verifier, "walk", walk)
    assert _size(log) == before + 1


def test_the_walk_takes_no_write_lock(log: Engine) -> None:
    # Another transaction holds the log's write lock (SQLite's BEGIN IMMEDIATE, PostgreSQL's
    # head row) for the whole verification, as a busy station's group commit would.
    with session_scope(log) as writer:
        audit_service.lock_head(writer)
        assert _size(log) >= SIZE
