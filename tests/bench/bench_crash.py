"""Crash benchmark: the crash drill of tests/app/test_crash.py at full size.

    .venv/bin/python -m tests.bench.bench_crash [--kills 50] [--db sqlite|postgres] [--seed N]

On a fresh database, `mediatrack serve` is started, a mixed write burst runs against it (scans
from four stations, clerks lending, taking back, dispatching and receiving their carriers) and
the service is killed with SIGKILL once a random number of writes were answered; then the
database is read for lost and half-written writes (tests/support/crash.py), and the next burst
starts on it. Prints one line per kill and the table docs/reliability.md keeps. Nothing is
asserted: a finding is printed with what is wrong, and counted.
"""

from __future__ import annotations

import argparse
import os
import random
import time

from app.core.config import Settings
from tests.bench.bench_service import scratch_database
from tests.factories import build_world
from tests.support.crash import CLERKS, Drill
from tests.support.service import ServiceProcess

POSTGRES_URL = os.environ.get(
    "MEDIATRACK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    rng = random.Random(seed)
    started = time.monotonic()
    clean = lost = half = refused = integrity_ok = verify_ok = unanswered = 0
    with scratch_database(args.db, POSTGRES_URL) as (workdir, url, engine):
        settings = Settings(DATA_DIR=workdir / "data", DATABASE_URL=url, SECRET_KEY="c" * 40)
        drill = Drill(engine, settings, build_world(engine, settings, carriers=2 * CLERKS))
        with ServiceProcess(settings, workdir) as service:
            for kill in range(1, args.kills + 1):
                service.start()
                acknowledged = drill.burst_and_kill(service, rng)
                findings = drill.findings()
                clean += findings.clean()
                lost += len(findings.lost)
                half += len(findings.half_written)
                refused += len(findings.refused)
                integrity_ok += findings.integrity in ("ok", "n/a")
                verify_ok += findings.verify == "ok"
                print(f"kill {kill}: {acknowledged} acknowledged, "
                      f"{'clean' if findings.clean() else findings.sentence()}", flush=True)
            service.start()  # it serves again after the last kill
        ledger = drill.ledger
        unanswered = sum(not acked for acked in ledger.scans.values()) + sum(
            not w.acknowledged for ws in ledger.moves.values() for w in ws)
        moves = sum(w.acknowledged for ws in ledger.moves.values() for w in ws)
        scans = sum(ledger.scans.values())
    minutes = (time.monotonic() - started) / 60
    integrity = "n/a (PostgreSQL)" if args.db == "postgres" else f"{integrity_ok}/{args.kills}"
    print(f"\n{args.db}, seed {seed}, {minutes:.1f} min")
    print("| kills | acknowledged writes (scan reads + custody moves) | unanswered (in flight) "
          "| lost | half-written | refused | integrity_check ok | audit verify ok | clean |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {args.kills} | {scans + moves:,} ({scans:,} + {moves:,}) | {unanswered} | {lost} "
          f"| {half} | {refused} | {integrity} | {verify_ok}/{args.kills} "
          f"| {clean}/{args.kills} |")


if __name__ == "__main__":
    main()
