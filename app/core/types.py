"""Column types shared by the models."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from app.core.time import as_utc


class UTCDateTime(TypeDecorator[datetime]):
    """timestamptz on PostgreSQL; on SQLite naive UTC text, handed back as aware UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bulk_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """For app.core.bulk: the same parameter SQLAlchemy would bind, made in one step. On
        SQLite the naive UTC text its DATETIME type writes ("YYYY-MM-DD HH:MM:SS.ffffff"), which
        the column's order and comparisons rely on (tests/app/core/test_bulk.py)."""
        if dialect.name != "sqlite":
            return None

        def text(value: datetime | None) -> str | None:
            if value is None:
                return None
            return as_utc(value).replace(tzinfo=None).isoformat(" ", "microseconds")

        return text

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)
