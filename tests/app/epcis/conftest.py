"""GS1's official EPCIS 2.0 JSON Schema, read where the project's shared reference sits.

The schema is not copied into the project. It is looked for in $MEDIATRACK_EPCIS_SCHEMA_DIR,
else in ``shared/reference/epcis/`` beside the checkout, else beside the repository this one
was cloned from (when that is a local path). Without it these tests skip, saying so.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

SCHEMA = "EPCIS-JSON-Schema.json"
REPO = Path(__file__).resolve().parents[3]


def _origin() -> Path | None:
    """The repository this checkout was cloned from, when that is a folder on this machine."""
    try:
        url = subprocess.run(
            ["git", "config", "--get", "remote.origin.url"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        return None
    if not url or "://" in url and not url.startswith("file://"):
        return None
    path = Path(url.removeprefix("file://"))
    return path if path.is_absolute() else (REPO / path).resolve()


def _schema_dir() -> Path | None:
    candidates = []
    if os.environ.get("MEDIATRACK_EPCIS_SCHEMA_DIR"):
        candidates.append(Path(os.environ["MEDIATRACK_EPCIS_SCHEMA_DIR"]))
    candidates.append(REPO.parent / "shared" / "reference" / "epcis")
    origin = _origin()
    if origin is not None:
        candidates.append(origin.parent / "shared" / "reference" / "epcis")
    return next((c for c in candidates if (c / SCHEMA).is_file()), None)


@pytest.fixture(scope="session")
def epcis_dir() -> Path:
    found = _schema_dir()
    if found is None:
        # A plain skip: the schema is GS1's file, not a system service CI must provide.
        pytest.skip(
            f"GS1's {SCHEMA} was not found (set MEDIATRACK_EPCIS_SCHEMA_DIR, or keep "
            "shared/reference/epcis/ beside the checkout)"
        )
    return found


@pytest.fixture(scope="session")
def epcis_problems(epcis_dir: Path) -> Callable[[Any], list[str]]:
    """Every way a document breaks GS1's schema, as readable lines (none: it validates)."""
    schema = json.loads((epcis_dir / SCHEMA).read_text())
    Draft7Validator.check_schema(schema)
    checker = Draft7Validator.FORMAT_CHECKER
    # Without these the schema's "format": "uri" passes any text, and a made-up business
    # step would pass as a "URI" of some other vocabulary (jsonschema[format-nongpl]).
    assert {"uri", "date-time"} <= checker.checkers.keys(), "install jsonschema[format-nongpl]"
    validator = Draft7Validator(schema, format_checker=checker)

    def problems(document: Any) -> list[str]:
        return [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(document)
        ]

    return problems
