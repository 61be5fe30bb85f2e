"""The service killed with SIGKILL at random moments of a mixed write burst (scans from four
stations, check-outs, returns, dispatches and receipts) keeps every acknowledged write and
leaves nothing half-written, on both databases (tests/support/crash.py; the full size, fifty
kills, is tests/bench/bench_crash.py)."""

from __future__ import annotations

import random
from pathlib import Path

import httpx
from sqlalchemy import Engine

from app.core.config import Settings
from tests.factories import World, build_world
from tests.support.crash import CLERKS, Drill
from tests.support.service import ServiceProcess

KILLS = 3


def test_kills_during_a_mixed_burst_keep_every_acknowledged_write_whole(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    world: World = build_world(engine, settings, carriers=2 * CLERKS)
    drill = Drill(engine, settings, world)
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    with ServiceProcess(settings, tmp_path) as service:
        for kill in range(1, KILLS + 1):
            # Each burst after the first starts on the database the previous kill left.
            service.start()
            acknowledged = drill.burst_and_kill(service, rng)
            assert acknowledged > 0, f"kill {kill} (seed {seed}): nothing was acknowledged"
            findings = drill.findings()
            assert findings.clean(), f"after kill {kill} (seed {seed}): {findings.sentence()}"
        service.start()
        r = httpx.get(f"{service.base}/api/v1/carriers/{world.labels[0]}",
                      headers=world.auth("clerk"))
        assert r.status_code == 200, r.text
