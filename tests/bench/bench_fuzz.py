"""Fuzzing benchmark: tests/app/test_schemathesis.py at a larger size.

    .venv/bin/python -m tests.bench.bench_fuzz [--examples 50] [--db sqlite|postgres|both]

For each database and each caller (admin, clerk, clinician, auditor tokens and a station key),
a fresh migrated database with the test world, the service in uvicorn, and schemathesis against
its OpenAPI document with every check and every phase (tests/support/fuzz.py). Prints one line
per run and the table docs/reliability.md keeps. Nothing is asserted: failures are printed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.core.db import make_engine
from app.core.migrations import upgrade
from app.main import create_app
from tests.factories import build_world
from tests.support.fuzz import CALLERS, FuzzRun, run_schemathesis

POSTGRES_URL = os.environ.get(
    "MEDIATRACK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@contextmanager
def fresh_database(db: str) -> Iterator[tuple[Path, str]]:
    """A migrated database of its own (its own PostgreSQL name: runs may go side by side)."""
    workdir = Path(tempfile.mkdtemp(prefix="mt-fuzz-"))
    name = f"mt_fuzz_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    if db == "sqlite":
        url = f"sqlite:///{workdir / 'fuzz.db'}"
    else:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield workdir, url
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if db == "postgres":
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def one(db: str, caller: str, examples: int, seed: int) -> FuzzRun:
    with fresh_database(db) as (workdir, url):
        settings = Settings(DATA_DIR=workdir / "data", DATABASE_URL=url)
        app = create_app(settings)
        try:
            world = build_world(app.state.engine, settings)
            return run_schemathesis(
                app, world, caller, examples=examples, workdir=workdir, seed=seed
            )
        finally:
            app.state.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=50)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--callers", default=",".join(CALLERS))
    args = parser.parse_args()
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    rows = []
    for db in dbs:
        for caller in args.callers.split(","):
            run = one(db, caller, args.examples, args.seed)
            rows.append((db, run))
            print(f"{db:8} {caller:9} operations {run.operations} cases {run.cases} "
                  f"failures {len(run.failures)} errors {len(run.errors)} {run.seconds:.0f} s",
                  flush=True)
            for failure in run.failures + run.errors:
                print(f"    {failure}", flush=True)
    print("\n| Database | Caller | Operations | Cases run | Failures | Time (s) |")
    print("|---|---|---:|---:|---:|---:|")
    for db, run in rows:
        print(f"| {db} | {run.caller} | {run.operations} | {run.cases} | "
              f"{len(run.failures) + len(run.errors)} | {run.seconds:.0f} |")


if __name__ == "__main__":
    main()
