"""UTC everywhere. SQLite hands datetimes back without a zone; we put UTC back on.

A calendar day is another matter: due dates, "today" and the date a page prints for a moment are
days in the archive's zone (``Settings.zone``). The UTC date is a day behind between local
midnight and the zone's offset (08:00 in Shanghai), so every local day is worked out here.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def local_date(moment: datetime, zone: ZoneInfo) -> date:
    """The day ``moment`` (aware, or naive UTC as SQLite returns it) falls on in ``zone``."""
    return as_utc(moment).astimezone(zone).date()


def local_today(zone: ZoneInfo) -> date:
    """Today in ``zone``. Reads the clock through this module's ``utcnow`` (a test sets it)."""
    return local_date(utcnow(), zone)
