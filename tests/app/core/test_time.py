"""Days in the archive's zone (app.core.time): the UTC date is a day behind Shanghai's from
local midnight to 08:00, and a due date, "today" and the day a page prints are local days."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from app.core.config import Settings
from app.core.time import local_date, local_today

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 01:30 on 7 Dec in Shanghai, still 6 Dec in UTC.
NIGHT = datetime(2026, 12, 6, 17, 30, tzinfo=UTC)


def test_a_moment_falls_on_the_zones_day() -> None:
    assert local_date(NIGHT, SHANGHAI) == date(2026, 12, 7)
    assert local_date(NIGHT, ZoneInfo("UTC")) == date(2026, 12, 6)
    assert local_date(NIGHT, ZoneInfo("America/New_York")) == date(2026, 12, 6)  # 12:30
    # SQLite hands a moment back without its zone: it is UTC.
    assert local_date(NIGHT.replace(tzinfo=None), SHANGHAI) == date(2026, 12, 7)
    # A moment kept with another offset is the same moment.
    assert local_date(NIGHT.astimezone(timezone(timedelta(hours=-5))), SHANGHAI) == date(
        2026, 12, 7
    )


def test_the_days_edges_in_shanghai() -> None:
    midnight = datetime(2026, 12, 6, 16, 0, tzinfo=UTC)  # 00:00 on 7 Dec there
    assert local_date(midnight - timedelta(microseconds=1), SHANGHAI) == date(2026, 12, 6)
    assert local_date(midnight, SHANGHAI) == date(2026, 12, 7)
    assert local_date(datetime(2026, 12, 7, 0, 0, tzinfo=UTC), SHANGHAI) == date(2026, 12, 7)


def test_today_is_the_zones_day_of_the_clock(clock: Callable[[datetime], None]) -> None:
    clock(NIGHT)
    assert local_today(SHANGHAI) == date(2026, 12, 7)
    assert local_today(ZoneInfo("UTC")) == date(2026, 12, 6)
    clock(datetime(2026, 12, 31, 16, 0, tzinfo=UTC))  # new year's day there
    assert local_today(SHANGHAI) == date(2027, 1, 1)


def test_the_settings_zone() -> None:
    assert Settings(TIMEZONE="Asia/Shanghai").zone == SHANGHAI
    assert Settings(TIMEZONE="Europe/Berlin").zone == ZoneInfo("Europe/Berlin")
