"""Real-stack tests: skip with a reason on a laptop, fail in CI.

CI (`.ci/run`) sets ``MEDIATRACK_REQUIRE_REAL=1``; there a missing system part (pcscd,
vpcd, Orthanc, PostgreSQL) is a failure, never a silent skip.
"""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest

REQUIRE_REAL = os.environ.get("MEDIATRACK_REQUIRE_REAL") == "1"


def unavailable(reason: str) -> NoReturn:
    """Skip the test (laptop) or fail it (CI) because a real part is missing."""
    if REQUIRE_REAL:
        pytest.fail(f"required real part unavailable in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def need_executable(name: str, package: str) -> str:
    """Return the path of a system executable or skip/fail naming its Debian package."""
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.path.exists(p)), None
    )
    if path is None:
        unavailable(f"{name} not found (Debian package {package})")
    return path
