"""schemathesis (a peer tool, not ours) against the service's own OpenAPI document.

The service runs in uvicorn in this process (tests.support.server); schemathesis runs as its
own command against the document it serves, as any client would, with the caller's token or
station key, every check and every phase (examples, coverage, fuzzing, stateful). Its JSON
report gives the figures: operations, generated cases, failures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI

from tests.factories import World
from tests.support.server import serve

ROOT = Path(__file__).resolve().parents[2]
CONFIG = Path(__file__).with_name("schemathesis.toml")
CALLERS = ("admin", "clerk", "clinician", "auditor", "station")
PHASES = "examples,coverage,fuzzing,stateful"


@dataclass(frozen=True)
class FuzzRun:
    caller: str
    operations: int
    cases: int
    failures: list[str]  # "CODE title: operations", one per kind of failure
    errors: list[str]
    output: str
    seconds: float


def caller_header(world: World, caller: str) -> str:
    if caller == "station":
        return f"X-API-Key: {world.station_key}"
    return f"Authorization: Bearer {world.tokens[caller]}"


def run_schemathesis(
    app: FastAPI, world: World, caller: str, *, examples: int, workdir: Path, seed: int = 1
) -> FuzzRun:
    """One schemathesis run as ``caller``: up to ``examples`` cases per operation and phase."""
    report = workdir / f"report-{caller}.json"
    with serve(app) as base:
        done = subprocess.run(
            [
                sys.executable, "-c", "from schemathesis.cli import schemathesis; schemathesis()",
                "--config-file", str(CONFIG),
                "run", f"{base}/openapi.json",
                "--header", caller_header(world, caller),
                "--checks", "all",
                "--phases", PHASES,
                "--max-examples", str(examples),
                "--seed", str(seed),
                "--workers", "1",
                # Its 10 s defaults (a read timeout, and with --checks all a response time
                # limit) failed two CI runs on one answer each: a reading of 10,000 studies that
                # takes 0.3 s alone took over 10 s in the middle of the suite (the service runs
                # in the test process). The run checks what is answered, not how fast
                # (docs/performance.md measures that); a hang still fails.
                "--request-timeout", "120",
                "--max-response-time", "120",
                "--no-color",
                "--output-truncate", "true",
                "--report", "json", "--report-json-path", str(report),
            ],
            capture_output=True,
            text=True,
            timeout=1800,
            env={
                **os.environ,
                "NO_COLOR": "1",
                "SCHEMATHESIS_HOOKS": "tests.support.fuzz_hooks",
                "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            },
            cwd=workdir,  # schemathesis keeps a cache in its working folder
        )
    data = json.loads(report.read_text())
    if data["operations"] is None:  # the run stopped before testing anything: say why
        raise AssertionError(
            f"schemathesis tested nothing (exit {done.returncode}):\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    failures = [
        f"{f['code']} {f['title']}: {', '.join(f['operations'])}" for f in data["failures"]
    ]
    return FuzzRun(
        caller=caller,
        operations=data["operations"]["tested"],
        cases=data["test_cases"]["generated"],
        failures=failures,
        errors=[str(e) for e in data["errors"]],
        output=done.stdout,
        seconds=data["running_time"],
    )
