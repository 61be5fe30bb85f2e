"""The Alembic migrations and the SQLModel models describe the same schema, on both
databases; SQLite connections carry the settings the custody rules rely on."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from app.core.db import CHECKPOINT_PAGES, make_engine, read_only
from app.core.migrations import current_revision, head_revision
from app.models import metadata


def test_database_is_at_head(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()


def test_models_and_migrations_agree(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_sqlite_connection_settings(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert (conn.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0) >= 1000
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == CHECKPOINT_PAGES


def test_write_lock_taken_at_begin(engine: Engine) -> None:
    """BEGIN IMMEDIATE: a second transaction cannot even start while one is open."""
    if engine.dialect.name != "sqlite":
        return
    impatient = make_engine(str(engine.url), busy_timeout_ms=50)
    with engine.connect() as first:
        first.execute(text("SELECT 1"))  # the transaction has begun, holding the lock
        with pytest.raises(OperationalError, match="locked"), impatient.connect() as second:
            second.execute(text("SELECT 1"))
    impatient.dispose()


def test_read_only_transactions_do_not_take_the_write_lock(engine: Engine) -> None:
    """Authentication reads while a writer holds the lock (SQLite WAL: readers never wait)."""
    if engine.dialect.name != "sqlite":
        return
    impatient = read_only(make_engine(str(engine.url), busy_timeout_ms=50))
    with engine.connect() as writer:
        writer.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: holds the write lock
        with impatient.connect() as reader:
            assert reader.execute(text("SELECT COUNT(*) FROM carrier")).scalar() == 0
    impatient.dispose()


def test_in_memory_sqlite_engine() -> None:
    engine = make_engine("sqlite://")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1
    engine.dispose()
