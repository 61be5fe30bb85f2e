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

from app.core.config import Settings
from app.main import create_app
from tests.bench.bench_service import scratch_database
from tests.factories import build_world
from tests.support.fuzz import CALLERS, FuzzRun, run_schemathesis

POSTGRES_URL = os.environ.get(
    "MEDIATRACK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def one(db: str, caller: str, examples: int, seed: int) -> FuzzRun:
    with scratch_database(db, POSTGRES_URL) as (workdir, url, engine):
        engine.dispose()
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
    args = parser.parse_args()
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    rows = []
    for db in dbs:
        for caller in CALLERS:
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
