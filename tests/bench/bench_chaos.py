"""Chaos benchmark: the chaos harness of tests/app/test_chaos.py at full size (as root: it
starts a private pcscd).

    .venv/bin/python -m tests.bench.bench_chaos [--taps 2000] [--service-kills 10]
        [--agent-kills 3] [--db sqlite|postgres] [--instances 1|2] [--workers N] [--seed N]

On a fresh database, three station agents (real pcscd + vpcd, real nfcpy udp, sim) tap
``--taps`` tags each through seeded fault-injecting proxies (tests/support/proxy.py) while the
service is killed with SIGKILL ``--service-kills`` times and each agent ``--agent-kills`` times;
then every outbox is awaited empty, check-outs of one carrier are raced through every instance,
and the database is read (tests/support/chaos.py). Prints the run's line and the table row
docs/reliability.md keeps. Nothing is asserted: what is wrong is printed.
"""

from __future__ import annotations

import argparse
import os
import random
from pathlib import Path

from app.core.config import Settings
from tests.bench.bench_service import scratch_database
from tests.readers.stacks import PcscStack
from tests.support.chaos import Chaos, Size

POSTGRES_URL = os.environ.get(
    "MEDIATRACK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# Its own, per layout: the crash benchmark, or another layout of this one, may run beside it.
SCRATCH = "mediatrack_bench_chaos_{instances}x{workers}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--taps", type=int, default=2000)
    parser.add_argument("--service-kills", type=int, default=10)
    parser.add_argument("--agent-kills", type=int, default=3)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--instances", type=int, choices=[1, 2], default=1)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    if args.db == "sqlite" and (args.instances > 1 or args.workers > 1):
        parser.error("two instances or --workers need --db postgres")
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    size = Size(taps=args.taps, service_kills=args.service_kills, agent_kills=args.agent_kills)
    stack = PcscStack()
    # libpcsclite reads this once per process, on its first call: set before any.
    os.environ["PCSCLITE_CSOCK_NAME"] = str(stack.socket)
    stack.start()
    try:
        scratch = SCRATCH.format(instances=args.instances, workers=args.workers)
        with scratch_database(args.db, POSTGRES_URL, scratch) as (workdir, url, engine):
            settings = Settings(DATA_DIR=workdir / "data", DATABASE_URL=url,
                                SECRET_KEY="c" * 40)
            chaos = Chaos(engine, settings, Path(workdir), stack, seed=seed,
                          instances=args.instances, workers=args.workers)
            report = chaos.run(size)
    finally:
        stack.destroy()
    where = f"{args.db}, {args.instances} instance(s) x {args.workers} worker(s)"
    print(f"{where}, seed {seed}: {report.line()}")
    for problem in report.problems():
        print(f"PROBLEM: {problem}")
    faults = report.faults
    print("| database | instances x workers | taps (pcsc + udp + sim) | dropped | hung | reset "
          "| answer lost | service kills | agent kills | lost | duplicated | races (one winner) "
          "| audit verify | outboxes empty | minutes |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    taps = " + ".join(f"{report.queued[k]:,}" for k in ("pcsc", "udp", "sim"))
    one_winner = sum(sorted(r) == sorted([200] + [409] * (len(r) - 1)) for r in report.races)
    empty = "yes" if not (report.waiting or report.dead) else f"no ({report.waiting} waiting, " \
        f"{report.dead} dead)"
    print(f"| {args.db} | {args.instances} x {args.workers} | {sum(report.queued.values()):,} "
          f"({taps}) | {faults['drop']} | {faults['hang']} | {faults['reset']} "
          f"| {faults['answer_lost']} | {report.service_kills} | {report.agent_kills} "
          f"| {report.lost} | {report.duplicated} | {len(report.races)} ({one_winner}) "
          f"| {report.verify} | {empty} | {report.seconds / 60:.1f} |")


if __name__ == "__main__":
    main()
