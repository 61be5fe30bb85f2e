"""Annotated dependency aliases shared by the routers."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Depends, Query, Request

from app.core.config import Settings
from app.core.ratelimit import ReadBudget
from app.core.time import local_today

# The dependencies here only read what the app holds: async, so FastAPI calls them on the event
# loop. A plain def goes through the thread pool and back: for a scan's four, about a tenth of
# the service's time.


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_read_budget(request: Request) -> ReadBudget:
    budget: ReadBudget = request.app.state.read_budget
    return budget


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_today(settings: SettingsDep) -> date:
    """Today in the archive's zone: the day due dates and "overdue" are counted in."""
    return local_today(settings.zone)


TodayDep = Annotated[date, Depends(get_today)]
ReadBudgetDep = Annotated[ReadBudget, Depends(get_read_budget)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
Limit = Annotated[int, Query(ge=1, le=500)]
