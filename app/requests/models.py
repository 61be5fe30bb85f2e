from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Field, SQLModel

from app.core.time import utcnow
from app.core.types import UTCDateTime


class CarrierRequest(SQLModel, table=True):
    """Someone asks for a carrier, for a purpose of use, by a date.

    ``state`` is stored as open, fulfilled or cancelled; an open request whose carrier is out
    (lent or in transit) reads as queued (see service.state_of).
    """

    __tablename__ = "carrier_request"

    id: int | None = Field(default=None, primary_key=True)
    carrier_id: int = Field(foreign_key="carrier.id", index=True)
    requester_id: int = Field(foreign_key="app_user.id", index=True)
    purpose: str = Field(max_length=16)
    needed_on: date
    note: str | None = Field(default=None, max_length=500)
    state: str = Field(default="open", max_length=16, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_by_id: int | None = Field(default=None, foreign_key="app_user.id")
    loan_id: int | None = Field(default=None, foreign_key="loan.id")
