"""The one answer to an unexpected error: a plain 500 that quotes nothing."""

from __future__ import annotations

import ast
import logging
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import app
from app.core.config import Settings
from app.core.errors import (
    INTERNAL_ERROR_DETAIL,
    AppError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    Phrase,
)
from app.main import create_app
from app.web.translations.update import ERRORS


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


class _Chinese:
    """A two-entry catalog (the gettext interface the pages hand over)."""

    def gettext(self, message: str) -> str:
        return {
            "There is no station named {name}.": "没有名为 {name} 的读卡站。",
            "{kind} {label}": "{kind}【{label}】",
            "{who} is under legal hold and cannot be {doing} until the hold is released.":
                "{who} 处于法律保全，在解除保全之前不能{doing}。",
        }.get(message, message)

    def pgettext(self, context: str, message: str) -> str:
        return {("move", "lent out"): "借出"}.get((context, message), message)


class TestAppErrorTranslation:
    def test_message_is_english_and_translated_fills_the_same_params(self) -> None:
        exc = NotFoundError("There is no station named {name}.", name="DESK-2")
        assert exc.message == str(exc) == "There is no station named DESK-2."
        assert exc.translated(_Chinese()) == "没有名为 DESK-2 的读卡站。"

    def test_a_phrase_param_is_translated_too_with_its_context(self) -> None:
        exc = ConflictError(
            "{who} is under legal hold and cannot be {doing} until the hold is released.",
            who=Phrase("{kind} {label}", kind="DVD", label="RAD0001"),
            doing=Phrase("lent out", "move"),
        )
        assert exc.message == (
            "DVD RAD0001 is under legal hold and cannot be lent out until the hold is released."
        )
        assert exc.translated(_Chinese()) == "DVD【RAD0001】 处于法律保全，在解除保全之前不能借出。"

    def test_numbers_and_dates_are_written_plainly(self) -> None:
        exc = InvalidInputError(
            "{n} of {total} by {day} at {rate:g} a second", n=3, total=1200,
            day=date(2027, 1, 5), rate=2.0,
        )
        assert exc.message == "3 of 1200 by 2027-01-05 at 2 a second"
        assert exc.translated(_Chinese()) == exc.message  # no entry: the English template

    def test_a_template_without_params_keeps_its_braces(self) -> None:
        assert AppError("Use {name} literally.").message == "Use {name} literally."

    def test_the_api_body_stays_english(self, tmp_path: Path) -> None:
        app = create_app(
            Settings(DATABASE_URL=f"sqlite:///{tmp_path / 'unused.db'}", SECRET_KEY="x" * 40)
        )

        @app.get("/api/v1/missing-station")
        def missing() -> None:
            raise NotFoundError("There is no station named {name}.", name="DESK-2")

        with TestClient(app) as client:
            r = client.get("/api/v1/missing-station", headers={"Accept-Language": "zh-CN"})
        assert (r.status_code, r.json()) == (
            404, {"error": "not_found", "detail": "There is no station named DESK-2."}
        )


def test_every_error_class_is_a_keyword_of_the_catalog_update() -> None:
    """An error class the update script does not know keeps its sentences out of the catalog."""
    import app.main  # noqa: F401  (every router, so every service and its errors)
    from app.backup import service as _backup  # noqa: F401  (the CLI's)

    def subclasses(cls: type) -> set[str]:
        return {name for sub in cls.__subclasses__() for name in {sub.__name__, *subclasses(sub)}}

    assert subclasses(AppError) | {"AppError"} <= set(ERRORS)


def test_every_raise_names_its_template_as_a_literal() -> None:
    """Babel extracts only a literal first argument: no f-string or variable template."""
    bad = []
    for path in sorted(Path(app.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ERRORS and node.args):
                continue
            first = node.args[0]
            literal = isinstance(first, ast.Constant) and isinstance(first.value, str)
            # app/web raises sentences it already translated with gettext
            translated = isinstance(first, ast.Call) and "gettext" in ast.unparse(first.func)
            if not (literal or translated):
                bad.append(f"{path.name}:{node.lineno}")
    assert bad == []
