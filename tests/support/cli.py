"""Running the ``mediatrack`` command as a separate process, as an operator would."""

from __future__ import annotations

import os
import sys
from pathlib import Path

MEDIATRACK = [sys.executable, "-c", "from app.cli import main; main()"]


def cli_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """This process's environment without its MEDIATRACK_* variables, a data folder of the
    test's own, and ``settings`` as MEDIATRACK_<name>."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIATRACK_")}
    env["MEDIATRACK_DATA_DIR"] = str(tmp_path / "data")
    env.update({f"MEDIATRACK_{k}": v for k, v in settings.items()})
    return env
