"""What every ``mediatrack`` command shares: one transaction, and how a failure is printed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from pydantic import ValidationError
from sqlmodel import Session

from app.core.config import Settings
from app.core.db import make_engine, read_only, session_scope
from app.core.errors import AppError

# For commands that hand their arguments, --help included, to a program of readers/.
PASS_THROUGH: dict[str, Any] = {
    "allow_extra_args": True,
    "ignore_unknown_options": True,
    "help_option_names": [],
}


def fail(message: str) -> typer.Exit:
    """Print the message in red on stderr; raise the returned Exit to end with status 1."""
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


def problems(exc: ValidationError) -> str:
    """Each invalid field with its reason, never its value (it may be patient data)."""
    return "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())


@contextmanager
def transaction(
    settings: Settings | None = None, *, reading_only: bool = False
) -> Iterator[Session]:
    """One committed transaction on the configured database (``reading_only``: a read-only
    one, see ``app.core.db.read_only``); errors exit non-zero."""
    settings = settings or Settings()
    engine = make_engine(settings.database_url, busy_timeout_ms=settings.SQLITE_BUSY_TIMEOUT_MS)
    if settings.is_embedded_sqlite:
        from app.core.migrations import upgrade

        upgrade(engine)
    try:
        with session_scope(read_only(engine) if reading_only else engine) as session:
            yield session
    except AppError as exc:
        raise fail(exc.message) from exc
    finally:
        engine.dispose()
