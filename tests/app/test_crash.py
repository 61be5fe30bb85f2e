"""The service killed with SIGKILL at random moments of a mixed write burst (scans from four
stations, check-outs, returns, dispatches and receipts) keeps every acknowledged write and
leaves nothing half-written, on both databases (tests/support/crash.py; the full size, fifty
kills, is tests/bench/bench_crash.py)."""

from __future__ import annotations

import random
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import select

from app.carriers.models import Carrier
from app.core.config import Settings
from app.core.db import session_scope
from app.core.ids import id_of
from app.core.time import utcnow
from app.custody.models import Loan
from tests.factories import World, build_world
from tests.support.crash import CLERKS, Drill, Write, follows
from tests.support.service import ServiceProcess

KILLS = 3


@pytest.mark.slow
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


def test_the_checks_name_what_a_crash_could_leave(settings: Settings, engine: Engine) -> None:
    """Without a service: rows broken behind its back are each named (the checks above could
    fail)."""
    world = build_world(engine, settings, carriers=2 * CLERKS)
    drill = Drill(engine, settings, world)
    assert drill.findings().clean(), drill.findings().sentence()
    first, second, third = world.labels[:3]
    drill.ledger.scans[str(uuid.uuid4())] = True  # answered, never stored
    drill.ledger.moves[first].append(Write("check_out", acknowledged=True))
    with session_scope(engine) as session:
        carriers = {c.label: c for c in session.exec(select(Carrier))}
        carriers[second].status = "in_transit"
        session.add(carriers[second])
        session.add(Loan(carrier_id=id_of(carriers[third]), borrower_id=world.borrower_id,
                         purpose="TREAT", out_at=utcnow(), due_on=utcnow().date()))
    findings = drill.findings()
    assert not findings.clean()
    assert findings.lost[0].startswith("1 acknowledged scans are not stored")
    assert findings.lost[1].startswith(f"{first}'s logged moves [] are not the moves it was sent")
    assert len(findings.lost) == 2
    half = " ".join(findings.half_written)
    assert f"{second} is in_transit but is not on an open transfer." in half
    assert f"{second} is in_transit but its last move in the log is store" in half
    assert "is stored without its check_out event." in half
    assert f"{third} is in_storage but has open loan." in half
    assert len(findings.half_written) == 4


@pytest.mark.parametrize(
    ("stored", "sent", "follows_it"),
    [
        (["check_out"], [("check_out", True)], True),
        ([], [("check_out", True)], False),  # lost
        (["check_out", "return"], [("check_out", True)], False),  # never sent
        ([], [("check_out", False)], True),  # in flight, not committed
        (["check_out"], [("check_out", False)], True),  # in flight, committed
        # In flight and not committed, then sent again after the restart and answered.
        (["check_out"], [("check_out", False), ("check_out", True)], True),
        (["return"], [("check_out", False), ("return", True)], True),
        (["return", "check_out"], [("check_out", False), ("return", True)], False),
    ],
)
def test_the_log_follows_what_was_sent(
    stored: list[str], sent: list[tuple[str, bool]], follows_it: bool
) -> None:
    assert follows(stored, [Write(action, acked) for action, acked in sent]) is follows_it
