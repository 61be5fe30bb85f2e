from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.core.time import utcnow
from app.core.types import UTCDateTime


class SiteSetting(SQLModel, table=True):
    """One value an administrator set for the site; a missing key means "the setting"."""

    __tablename__ = "site_setting"

    key: str = Field(primary_key=True, max_length=32)
    value: str = Field(max_length=2000)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
