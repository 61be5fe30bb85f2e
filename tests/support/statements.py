"""Count the SQL statements a piece of work sends: a list that asks once per row (N+1) shows
as a count that grows with the list."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, event


@contextmanager
def counting(engine: Engine) -> Iterator[list[str]]:
    """The queries sent on ``engine`` inside the block, in order (not the transactions' own
    BEGIN and settings, which depend on what a pooled connection did before)."""
    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        if not statement.startswith(("BEGIN", "PRAGMA", "SET TRANSACTION")):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)
