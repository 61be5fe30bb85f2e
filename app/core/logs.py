"""Logs carry ids, never patient data: filters on the loggers of the libraries we run under.

- uvicorn's access log: the query string is cut off (``/where?q=<patient ID>``).
- SQLAlchemy's engine log (when someone turns it up): statements stay, the values bound to
  them and the rows read are not written (they may hold patient IDs).
"""

from __future__ import annotations

import logging

ACCESS_LOGGER = "uvicorn.access"
SQL_LOGGER = "sqlalchemy.engine.Engine"


class DropQueryString(logging.Filter):
    """uvicorn logs ``client - "METHOD path?query HTTP/x" status``: keep the path only."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


class DropSQLValues(logging.Filter):
    """Every value SQLAlchemy logs comes as an argument of the record (parameters as
    ``"[%s] %r"``, rows as ``"Row %r"``); statements come without arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.args:
            return True
        if record.msg == "[%s] %r" and isinstance(record.args, tuple):
            record.msg, record.args = "[%s] [values not logged]", record.args[:1]
            return True
        return False


def install_filters() -> None:
    """Idempotent: called by every ``create_app``."""
    for name, kind in ((ACCESS_LOGGER, DropQueryString), (SQL_LOGGER, DropSQLValues)):
        logger = logging.getLogger(name)
        if not any(isinstance(f, kind) for f in logger.filters):
            logger.addFilter(kind())
