"""What one small statement costs by each way the service can run it, in process:

    .venv/bin/python -m tests.bench.bench_statements [--db sqlite,postgres]

The same lookup of one station by its primary key, run as an ORM entity select through the
session, as a Core select through ``Session.execute``, as the same Core select on the session's
connection, and on the driver's own connection. The hot paths (a scan, a lookup, the log
append) are a dozen statements each, so what the layers add per statement is most of their
cost; docs/performance.md has the figures.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

from sqlalchemy import bindparam, select
from sqlmodel import Session

from app.stations.models import Station
from tests.bench import bench_service

RUNS = 2000


def _best_us(run: Callable[[], object], rounds: int = 5) -> float:
    """Microseconds a call, best of ``rounds`` rounds of RUNS calls (after 200 to warm up)."""
    for _ in range(200):
        run()
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(RUNS):
            run()
        best = min(best, (time.perf_counter() - t0) / RUNS * 1e6)
    return best


def measure(session: Session, station_id: int) -> dict[str, float]:
    """Microseconds a statement by each way, for the station ``station_id``."""
    table = Station.__table__  # type: ignore[attr-defined]
    orm = select(Station).where(Station.id == bindparam("i"))  # type: ignore[arg-type]
    core = select(table.c.id, table.c.last_seq, table.c.shelf_id).where(
        table.c.id == bindparam("i")
    )
    conn = session.connection()
    driver = conn.connection.driver_connection
    assert driver is not None
    dialect = conn.dialect
    compiled = core.compile(dialect=dialect)
    sql = str(compiled)
    # The driver's own placeholders: qmark on SQLite (positional), pyformat on psycopg.
    args: object = (station_id,) if dialect.paramstyle == "qmark" else {"i": station_id}
    cursor = driver.cursor()

    def raw() -> object:
        cursor.execute(sql, args)
        return cursor.fetchall()

    params = {"i": station_id}
    return {
        "ORM entity, Session.execute": _best_us(
            lambda: session.execute(orm, params).scalars().all()
        ),
        "Core, Session.execute": _best_us(lambda: session.execute(core, params).all()),
        "Core, the session's connection": _best_us(lambda: conn.execute(core, params).all()),
        "the driver's cursor": _best_us(raw),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bench_statements")
    parser.add_argument("--db", default="sqlite,postgres", help="sqlite, postgres or both")
    parser.add_argument("--postgres-url", default=os.environ.get(
        "MEDIATRACK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    opts = parser.parse_args()
    for db in (d.strip() for d in opts.db.split(",") if d.strip()):
        with bench_service.scratch_database(db, opts.postgres_url) as (_, _url, engine):
            bench_service.seed(engine, 1000)
            principal, _ = bench_service.new_station(engine, "one")
            assert principal.station_id is not None
            with Session(engine) as session:
                for name, us in measure(session, principal.station_id).items():
                    print(f"{db}: {name}: {us:.1f} us a statement "
                          f"(load average {os.getloadavg()[0]:.1f})", flush=True)


if __name__ == "__main__":
    main()
