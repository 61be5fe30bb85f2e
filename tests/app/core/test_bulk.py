"""app.core.bulk: rows written through the driver are the rows SQLAlchemy would write."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, bindparam, insert, select
from sqlalchemy import update as sa_update
from sqlmodel import Session

from app.core.bulk import Bulk, among
from app.core.db import make_engine
from app.core.types import UTCDateTime

PROBE = Table(
    "bulk_probe",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime),
    Column("name", String(20)),
)
# A whole second (SQLite's own adapter would drop the fraction), a fraction, another zone.
TIMES = [
    datetime(2026, 12, 6, 9, 30, 0, tzinfo=UTC),
    datetime(2026, 12, 6, 9, 30, 0, 250, tzinfo=UTC),
    datetime(2026, 12, 6, 10, 45, 0, tzinfo=timezone(timedelta(hours=1))),
]


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    PROBE.create(engine)
    yield engine
    engine.dispose()


def test_rows_are_stored_as_sqlalchemy_stores_them(engine: Engine) -> None:
    with Session(engine) as session:
        Bulk(PROBE, ("id", "at", "name")).run(
            session, [(n, at, f"bulk{n}") for n, at in enumerate(TIMES)]
        )
        session.execute(
            insert(PROBE), [{"id": 10 + n, "at": at, "name": "core"} for n, at in enumerate(TIMES)]
        )
        session.commit()
        # Stored alike: equal in SQL (on SQLite, the same text), not only once read back.
        b, c = PROBE.alias("b"), PROBE.alias("c")
        pairs = session.execute(
            select(b.c.id, c.c.id).join(c, b.c.at == c.c.at).where(b.c.id < 10, c.c.id >= 10)
        ).all()
        assert sorted(pairs) == [(0, 10), (1, 11), (2, 12)]
        stored = session.execute(select(PROBE.c.at).where(PROBE.c.id < 10).order_by(PROBE.c.id))
        assert list(stored.scalars()) == [t.astimezone(UTC) for t in TIMES]


def test_an_update_binds_by_name(engine: Engine) -> None:
    move = Bulk(
        PROBE,
        ("id", "at", "name"),
        lambda v: sa_update(PROBE)
        .where(PROBE.c.id == v.c.id)
        .where(PROBE.c.at <= v.c.at)
        .values(at=v.c.at, name=v.c.name),
    )
    with Session(engine) as session:
        rows = [(1, TIMES[1], "a"), (2, TIMES[1], "b")]
        Bulk(PROBE, ("id", "at", "name")).run(session, rows)
        # Row 1 moves forward; row 2 would move back, which the WHERE refuses.
        move.run(session, [(1, TIMES[2], "moved"), (2, TIMES[0], "moved")])
        session.commit()
        rows = session.execute(select(PROBE.c.id, PROBE.c.name).order_by(PROBE.c.id)).all()
        assert [tuple(r) for r in rows] == [(1, "moved"), (2, "b")]


def test_a_set_is_one_parameter(engine: Engine) -> None:
    with Session(engine) as session:
        Bulk(PROBE, ("id", "at", "name")).run(
            session, [(n, TIMES[0], f"n{n}") for n in range(1, 6)]
        )

        def ids(clause: object) -> list[int]:
            query = select(PROBE.c.id).where(clause).order_by(PROBE.c.id)  # type: ignore[arg-type]
            return list(session.execute(query).scalars())

        assert ids(among(session, PROBE.c.id, [2, 4, 99])) == [2, 4]
        assert ids(among(session, PROBE.c.name, ["n1", "n5", "x'; --"])) == [1, 5]
        assert ids(among(session, PROBE.c.id, [])) == []


def test_a_statement_binding_what_the_rows_do_not_name_is_refused(engine: Engine) -> None:
    bad = Bulk(
        PROBE,
        ("id",),
        lambda v: sa_update(PROBE).where(PROBE.c.id == v.c.id).values(name=bindparam("name")),
    )
    with Session(engine) as session, pytest.raises(Exception, match="name"):
        bad.run(session, [(1,)])
