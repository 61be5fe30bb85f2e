"""Shared fixtures: every database test runs on SQLite and on the real PostgreSQL.

Each test gets its own fresh, migrated database: a copy of a migrated SQLite file, or a
PostgreSQL database cloned from a migrated template (CREATE DATABASE ... TEMPLATE).
Set MEDIATRACK_TEST_POSTGRES_URL to point at another server (default: the local one).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from app.auth.deps import Callers
from app.core.config import Settings
from app.core.db import make_engine
from app.core.migrations import upgrade
from app.main import create_app
from tests.factories import World, build_world
from tests.support.real import unavailable

# The PC/SC stack's and the browser's fixtures, once for the whole run: a second pcscd or a
# second Playwright in one run breaks the first (see those modules).
pytest_plugins = ["tests.support.pcsc_fixtures", "tests.support.browser"]

POSTGRES_URL = os.environ.get(
    "MEDIATRACK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SECRET = "test-secret-key-that-is-long-enough-0123456789"


def _admin_engine() -> Engine:
    return create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    name = f"mt_tpl_{os.getpid()}"
    admin = _admin_engine()
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        unavailable(f"PostgreSQL not reachable at {make_url(POSTGRES_URL).host}: {exc.orig}")
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh migrated database of each kind, for this test only."""
    if request.param == "sqlite":
        target = tmp_path / "mediatrack.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        yield f"sqlite:///{target}"
        return
    template = request.getfixturevalue("postgres_template")
    name = f"mt_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def empty_db_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """A second database of db_url's kind, new and without a schema (where a restore goes)."""
    if make_url(db_url).get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty' / 'mediatrack.db'}"
        return
    name = f"mt_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(DATA_DIR=tmp_path / "data", DATABASE_URL=db_url, SECRET_KEY=SECRET)


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    application = create_app(settings)
    yield application
    # As the app's shutdown does, for a test that served it without one (lifespan="off"): a
    # writer thread left waiting would keep its engine for the rest of the run.
    application.state.writer.stop()
    application.state.engine.dispose()


@pytest.fixture
def engine(app: FastAPI) -> Engine:
    engine: Engine = app.state.engine
    return engine


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def memory_lapses(app: FastAPI) -> Callable[[], None]:
    """What waiting out the callers the app remembers (app.auth.deps.Callers: station keys and
    accounts) does, without the wait: their clock stands still until the function this returns
    moves it on by the time a caller is kept. A wall-clock deadline of a few seconds failed on
    a busy machine."""
    callers: Callers = app.state.callers
    now = [0.0]
    callers.clock = lambda: now[0]

    def lapse() -> None:
        now[0] += callers.ttl

    return lapse


@pytest.fixture
def world(engine: Engine, settings: Settings) -> World:
    """Locations, staff of every role (with tokens), borrowers, a desk station, carriers."""
    return build_world(engine, settings)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[datetime], None]:
    """Set the moment "today" is read at: every local day goes through app.core.time's
    ``local_today``, which reads the clock through that module. Other times stay real."""

    def set_to(moment: datetime) -> None:
        monkeypatch.setattr("app.core.time.utcnow", lambda: moment)

    return set_to
