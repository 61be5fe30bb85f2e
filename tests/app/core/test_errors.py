"""The one answer to an unexpected error: a plain 500 that quotes nothing."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.core.errors import INTERNAL_ERROR_DETAIL
from app.main import create_app


def test_unexpected_error_is_a_plain_500(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(
        Settings(DATABASE_URL=f"sqlite:///{tmp_path / 'unused.db'}", SECRET_KEY="x" * 40)
    )

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("patient ZZCANARY0001")

    with caplog.at_level(logging.DEBUG), TestClient(app) as client:
        r = client.get("/boom")
    assert r.status_code == 500
    assert r.json() == {"error": "internal_error", "detail": INTERNAL_ERROR_DETAIL}
    assert "ZZCANARY" not in caplog.text
    assert "unhandled RuntimeError on GET /boom" in caplog.text
