"""Batches of rows written through the driver, and sets of values bound as one parameter.

SQLAlchemy's executemany builds, per row, a parameter dictionary and runs every column's type
processor through its own machinery (about 10 us a row); an IN list of 500 values is re-rendered
into 500 bind names on every execution. For batches of hundreds of rows that is most of a
request's time. ``Bulk`` compiles a Core statement once per dialect, works out which type
processors its columns need (a UTC datetime's conversion on SQLite), and hands the driver plain
tuples in one ``executemany`` (on PostgreSQL: one statement over ``unnest`` of one array per
column, as a row of an executemany is a statement the server runs). ``among`` binds a whole set
as one parameter (a PostgreSQL array read with ``unnest``, a JSON array SQLite reads with
``json_each``), so the statement is compiled once and cached, and the set is joined through the
column's index.
The statements stay Core expressions on the models' tables: no SQL text is written by hand.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

from sqlalchemy import ColumnElement, Insert, Table, bindparam, func, insert, select
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

    def rows(self, rows: Sequence[Sequence[Any]]) -> list[Any]:
        # Column by column: a converted column is one map() of its processor, the others are
        # taken as they are (a row-by-row test of each column's processor costs more than the
        # conversions themselves).
        given = list(zip(*rows, strict=True))
        columns = [list(map(p, given[i])) if p else given[i] for i, p in self.plan]
        if self.positional:
            return list(zip(*columns, strict=True))
        return [dict(zip(self.keys, row, strict=True)) for row in zip(*columns, strict=True)]


def _processor(type_: Any, dialect: Dialect) -> Processor:
    """A type's own one-step conversion if it has one (``bulk_processor``), else the one
    SQLAlchemy would apply: the dialect's type under a TypeDecorator."""
    fast = getattr(type_, "bulk_processor", None)
    if fast is not None and (made := fast(dialect)) is not None:
        return made  # type: ignore[no-any-return]
    return type_.dialect_impl(dialect).bind_processor(dialect)  # type: ignore[no-any-return]


class _Binds:
    """The row source of the executemany form: each name a bind parameter (``v.c.name``)."""

    def __init__(self, names: Sequence[str]) -> None:
        # Named apart from the columns (SQLAlchemy keeps a column's own name for its SET).
        self.c = SimpleNamespace(**{name: bindparam(f"b_{name}") for name in names})


class Bulk:
    """Rows given as tuples in the order of ``names``, written by one statement.

    ``build(v)`` makes the statement from a row source ``v`` (``v.c.<name>`` is the row's
    value); without it the rows are inserted into ``table``, each name a column. ``types``
    names, for a value that is not a column of the same name, the column whose type it has.
    On SQLite the statement runs as one driver executemany (an in-process library: a row
    costs no round trip). On PostgreSQL, where each row of an executemany is a statement the
    server runs, the source is ``unnest`` of one array per name: one statement for the batch.
    An UPDATE's rows must then name each target row once (``UPDATE ... FROM`` changes a row
    once, with any one of the rows that match it): callers keep one row per key.
    """

    def __init__(
        self,
        table: Table,
        names: Sequence[str],
        build: Callable[[Any], Executable] | None = None,
        types: Mapping[str, str] | None = None,
    ) -> None:
        self.table = table
        self.names = tuple(names)
        self.build = build
        kinds = {name: (types or {}).get(name, name) for name in self.names}
        self.types = {name: table.c[column].type for name, column in kinds.items()}
        self._plans: dict[str, _Plan] = {}
        self._arrays: Executable | None = None

    def _plan(self, connection: Connection) -> _Plan:
        dialect = connection.dialect
        plan = self._plans.get(dialect.name)
        if plan is None:
            if self.build is None:
                plan = _Plan(insert(self.table), self.names, dialect)
            else:
                binds = tuple(f"b_{name}" for name in self.names)
                plan = _Plan(self.build(_Binds(self.names)), binds, dialect)
            self._plans[dialect.name] = plan
        return plan

    def _unnest(self) -> Executable:
        if self._arrays is None:
            arrays = [
                bindparam(f"b_{name}", type_=postgresql.ARRAY(self.types[name]))
                for name in self.names
            ]
            source = func.unnest(*arrays).table_valued(*self.names).render_derived()
            if self.build is None:
                self._arrays = insert(self.table).from_select(
                    list(self.names), select(*[source.c[name] for name in self.names])
                )
            else:
                self._arrays = self.build(source)
        return self._arrays

    def run(self, session: Session, rows: Sequence[Sequence[Any]]) -> None:
        """Write every row, in the session's transaction (nothing is committed)."""
        if not rows:
            return
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            columns = list(zip(*rows, strict=True))
            values = {f"b_{name}": list(c) for name, c in zip(self.names, columns, strict=True)}
            session.execute(self._unnest(), values)
            return
        plan = self._plan(connection)
        connection.exec_driver_sql(plan.sql, plan.rows(rows))


def among(session: Session, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """``column IN values`` with the values bound as one parameter (the statement's text does
    not depend on how many there are). Values are strings or integers."""
    listed = list(values)
    # A set the planner joins (index probes), not a filter: "= ANY(array)" in a prepared
    # statement's generic plan compares each row with the whole array.
    if session.get_bind().dialect.name == "postgresql":
        array = bindparam(None, listed, type_=postgresql.ARRAY(column.type))
        each = func.unnest(array).table_valued("value").render_derived()
    else:
        each = func.json_each(bindparam(None, json.dumps(listed))).table_valued("value")
    return column.in_(select(each.c.value))  # type: ignore[no-any-return]
