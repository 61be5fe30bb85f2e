"""schemathesis against the OpenAPI document: 0 failures, as each kind of caller, on both
databases (issue 11, item 6).

Every check (no 5xx; every status and body documented and matching its schema; nothing the
document calls invalid accepted; nothing it calls valid refused; unsupported methods 405 with an
Allow header; auth not ignored ...) and every phase, the stateful one included. No operation is
excluded: an admin may fuzz user deactivation because the service refuses deactivating oneself.

Bounded for CI by ``MEDIATRACK_FUZZ_EXAMPLES`` (cases per operation and phase, default 2);
``python -m tests.bench.bench_fuzz`` runs it larger for docs/reliability.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fastapi import FastAPI

from tests.factories import World
from tests.support.fuzz import CALLERS, run_schemathesis

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("MEDIATRACK_FUZZ_EXAMPLES", "2"))


@pytest.mark.timeout(900)
@pytest.mark.parametrize("caller", CALLERS)
def test_schemathesis_finds_nothing(
    caller: str, app: FastAPI, world: World, tmp_path: Path
) -> None:
    run = run_schemathesis(app, world, caller, examples=EXAMPLES, workdir=tmp_path)
    assert run.operations > 60, run.output
    assert run.cases > run.operations, run.output
    assert run.errors == [], run.output
    assert run.failures == [], "\n".join(run.failures) + "\n\n" + run.output
