"""Batches of rows written through the driver, and sets of values bound as one parameter.

SQLAlchemy's executemany builds, per row, a parameter dictionary and runs every column's type
processor through its own machinery (about 10 us a row); an IN list of 500 values is re-rendered
into 500 bind names on every execution. For batches of hundreds of rows that is most of a
request's time. ``Bulk`` compiles a Core statement once per dialect, works out which type
processors its columns need (a UTC datetime's conversion on SQLite), and hands the driver plain
tuples in one ``executemany``; ``among`` binds a whole set as one parameter (a PostgreSQL array,
or a JSON array SQLite reads with ``json_each``), so the statement is compiled once and cached.
The statements stay Core expressions on the models' tables: no SQL text is written by hand.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Insert, any_, bindparam, func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import Executable
from sqlmodel import Session

Processor = Callable[[Any], Any] | None


class _Plan:
    """A statement compiled for one dialect, and how a row of ``names`` becomes its
    parameters."""

    def __init__(self, statement: Any, names: tuple[str, ...], dialect: Dialect) -> None:
        # An INSERT names its columns; an UPDATE's bind parameters are in its text already.
        keys = list(names) if isinstance(statement, Insert) else None
        compiled = statement.compile(dialect=dialect, column_keys=keys)
        self.sql: str = compiled.string
        binds = compiled.binds
        if compiled.positional:
            order = list(compiled.positiontup or ())
        else:
            order = list(names)
        self.positional = bool(compiled.positional)
        self.keys = order
        bound = order if compiled.positional else list(binds)
        missing = [name for name in bound if name not in names]
        if missing:
            raise ValueError(f"the statement binds {missing}, which the rows do not name")
        # The dialect's own type (SQLite's DATETIME text format under a TypeDecorator), as
        # SQLAlchemy would apply it.
        self.plan: list[tuple[int, Processor]] = [
            (names.index(name), _processor(binds[name].type, dialect)) for name in order
        ]
        self.plain = all(p is None for _, p in self.plan)

    def rows(self, rows: Sequence[Sequence[Any]]) -> list[Any]:
        plan = self.plan
        if self.positional:
            if self.plain:
                return [tuple([row[i] for i, _ in plan]) for row in rows]
            return [tuple([p(row[i]) if p else row[i] for i, p in plan]) for row in rows]
        keys = self.keys
        return [
            dict(zip(keys, [p(row[i]) if p else row[i] for i, p in plan], strict=True))
            for row in rows
        ]


def _processor(type_: Any, dialect: Dialect) -> Processor:
    """A type's own one-step conversion if it has one (``bulk_processor``), else the one
    SQLAlchemy would apply: the dialect's type under a TypeDecorator."""
    fast = getattr(type_, "bulk_processor", None)
    if fast is not None and (made := fast(dialect)) is not None:
        return made  # type: ignore[no-any-return]
    return type_.dialect_impl(dialect).bind_processor(dialect)  # type: ignore[no-any-return]


class Bulk:
    """A Core INSERT or UPDATE run as one driver executemany over rows given as tuples in the
    order of ``names`` (the columns of an INSERT, the bind parameters of an UPDATE)."""

    def __init__(self, statement: Executable, names: Sequence[str]) -> None:
        self.statement = statement
        self.names = tuple(names)
        self._plans: dict[str, _Plan] = {}

    def _plan(self, connection: Connection) -> _Plan:
        dialect = connection.dialect
        plan = self._plans.get(dialect.name)
        if plan is None:
            plan = self._plans[dialect.name] = _Plan(self.statement, self.names, dialect)
        return plan

    def run(self, session: Session, rows: Sequence[Sequence[Any]]) -> None:
        """Execute for every row, in the session's transaction (nothing is committed)."""
        if not rows:
            return
        connection = session.connection()
        plan = self._plan(connection)
        connection.exec_driver_sql(plan.sql, plan.rows(rows))


def among(session: Session, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """``column IN values`` with the values bound as one parameter (the statement's text does
    not depend on how many there are). Values are strings or integers."""
    listed = list(values)
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, listed, type_=postgresql.ARRAY(column.type)))  # type: ignore[no-any-return]
    each = func.json_each(bindparam(None, json.dumps(listed))).table_valued("value")
    return column.in_(select(each.c.value))  # type: ignore[no-any-return]
