"""Annotated dependency aliases shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from app.core.config import Settings
from app.core.ratelimit import ReadBudget


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_read_budget(request: Request) -> ReadBudget:
    budget: ReadBudget = request.app.state.read_budget
    return budget


SettingsDep = Annotated[Settings, Depends(get_settings)]
ReadBudgetDep = Annotated[ReadBudget, Depends(get_read_budget)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
Limit = Annotated[int, Query(ge=1, le=500)]
