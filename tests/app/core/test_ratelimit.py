"""The read budget on a clock the test moves (no waiting)."""

from __future__ import annotations

import pytest

from app.core.errors import TooManyRequestsError
from app.core.principal import SYSTEM, Principal, Role
from app.core.ratelimit import ReadBudget


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def station(n: int) -> Principal:
    return Principal(kind="station", id=n, role=Role.STATION, station_id=n)


def test_reads_are_counted_not_requests() -> None:
    clock = Clock()
    budget = ReadBudget(rate=10, burst=1000, clock=clock)
    budget.take(station(1), 500)
    budget.take(station(1), 500)
    with pytest.raises(TooManyRequestsError) as refused:
        budget.take(station(1), 1)
    assert refused.value.retry_after == 1
    assert "10 a second" in refused.value.message


def test_a_refused_request_takes_nothing_and_fits_after_its_retry_after() -> None:
    clock = Clock()
    budget = ReadBudget(rate=10, burst=1000, clock=clock)
    budget.take(station(1), 1000)
    clock.now += 2  # 20 reads back
    with pytest.raises(TooManyRequestsError) as refused:
        budget.take(station(1), 500)
    assert refused.value.retry_after == 48  # (500 - 20) / 10
    clock.now += 47
    with pytest.raises(TooManyRequestsError):
        budget.take(station(1), 500)
    clock.now += 1
    budget.take(station(1), 500)


def test_the_budget_refills_no_higher_than_the_burst() -> None:
    clock = Clock()
    budget = ReadBudget(rate=10, burst=1000, clock=clock)
    budget.take(station(1), 1)
    clock.now += 3600
    budget.take(station(1), 1000)
    with pytest.raises(TooManyRequestsError):
        budget.take(station(1), 1)


def test_a_tap_a_second_never_runs_out() -> None:
    clock = Clock()
    budget = ReadBudget(rate=10, burst=1000, clock=clock)
    for _ in range(10_000):
        budget.take(station(1), 1)
        clock.now += 1


def test_stations_have_a_budget_each_and_staff_none() -> None:
    clock = Clock()
    budget = ReadBudget(rate=10, burst=500, clock=clock)
    budget.take(station(1), 500)
    budget.take(station(2), 500)
    clerk = Principal(kind="user", id=7, role=Role.CLERK)
    for _ in range(3):
        budget.take(clerk, 500)
        budget.take(SYSTEM, 500)
    with pytest.raises(TooManyRequestsError):
        budget.take(station(2), 1)
