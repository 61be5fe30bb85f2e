"""Logs carry ids, never patient data: filters on the loggers of the libraries we run under.

- uvicorn's access log: the query string is cut off (``/where?q=<patient ID>``), and so is the
  value after a subject in the path (``/api/v1/carriers/<label>``, a location code, a study
  UID, a user or station name): what someone typed there may have been a patient ID.
- SQLAlchemy's engine log (when someone turns it up): statements stay, the values bound to
  them and the rows read are not written (they may hold patient IDs).
"""

from __future__ import annotations

import logging

ACCESS_LOGGER = "uvicorn.access"
SQL_LOGGER = "sqlalchemy.engine.Engine"


# Path segments after which the next one is typed by a person: a label, a code, a UID, a user
# or station name. Only ids the service made (numbers) are logged as sent.
TYPED_AFTER = frozenset({"carriers", "c", "locations", "studies", "users", "stations"})
MASK = "…"


def masked_path(path: str) -> str:
    """The path without its query string, and without what follows a subject segment."""
    parts = path.split("?", 1)[0].split("/")
    return "/".join(
        MASK if i > 0 and parts[i - 1] in TYPED_AFTER and part else part
        for i, part in enumerate(parts)
    )


class DropQueryString(logging.Filter):
    """uvicorn logs ``client - "METHOD path?query HTTP/x" status``: keep the path only, with
    typed values masked (see :func:`masked_path`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], masked_path(args[2]), *args[3:])
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
