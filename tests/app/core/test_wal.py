"""app.core.wal: SQLite's WAL is copied back by a thread, not by a request's commit."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.core.config import Settings
from app.core.db import make_engine
from app.core.wal import SAFETY_NET_PAGES, WalCheckpointer
from app.main import create_app
from tests.support.wait import wait_for


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    yield engine
    engine.dispose()


def _rows_in_database_file(database: Path, copy: Path) -> int:
    """The rows of table t that the database file itself holds, without its WAL."""
    shutil.copyfile(database, copy)
    with sqlite3.connect(copy) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM t").fetchone()[0])


def test_the_thread_copies_committed_pages_into_the_database_file(
    engine: Engine, tmp_path: Path
) -> None:
    checkpointer = WalCheckpointer(engine, interval=0.05)
    database = tmp_path / "wal.db"
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    checkpointer.run_once()  # the table is in the file; its rows are not yet
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1), (2), (3)"))
        # A commit on this engine would copy the WAL back only past the safety net's size.
        assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar() == SAFETY_NET_PAGES
    assert _rows_in_database_file(database, tmp_path / "before.db") == 0
    passes = checkpointer.passes
    checkpointer.start()
    try:
        wait_for(lambda: checkpointer.passes > passes, 10, "a checkpoint pass")
    finally:
        checkpointer.stop()
    busy, frames, copied = checkpointer.last or (1, 0, -1)
    assert busy == 0 and frames == copied > 0
    assert _rows_in_database_file(database, tmp_path / "after.db") == 3


def test_an_app_runs_the_thread_only_while_it_serves(settings: Settings) -> None:
    def running() -> bool:
        return any(t.name == "wal-checkpoints" for t in threading.enumerate())

    app = create_app(settings)
    sqlite_file = settings.database_url.startswith("sqlite")
    try:
        assert app.state.checkpointer.active is sqlite_file  # PostgreSQL checkpoints itself
        with TestClient(app):
            assert running() is sqlite_file
        assert not running()
    finally:
        app.state.engine.dispose()


def test_a_database_in_memory_gets_no_thread() -> None:
    engine = make_engine("sqlite://")
    try:
        checkpointer = WalCheckpointer(engine)
        checkpointer.start()
        assert not checkpointer.active
        assert not any(t.name == "wal-checkpoints" for t in threading.enumerate())
    finally:
        engine.dispose()
