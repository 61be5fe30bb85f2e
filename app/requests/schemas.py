from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from app.core.schemas import Strict
from app.core.validation import IsoDate, Purpose


class RequestState(StrEnum):
    OPEN = "open"
    QUEUED = "queued"  # open, but the carrier is lent out or in transit
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"


class RequestCreate(Strict):
    carrier: str = Field(
        min_length=1, max_length=64, description="A carrier label, accession number or study UID."
    )
    purpose: Purpose
    needed_on: IsoDate
    note: str | None = Field(default=None, max_length=500)


class Fulfil(Strict):
    due_on: IsoDate | None = None
    approver: str | None = Field(default=None, max_length=64)


class RequestPublic(BaseModel):
    id: int
    label: str
    requester: str = Field(description="The requester's user name.")
    requester_name: str
    purpose: str
    needed_on: date
    note: str | None
    state: RequestState
    created_at: datetime
    closed_at: datetime | None
    loan_id: int | None
    location_path: str = Field(description="Where the carrier is now.")


class RequestListPublic(BaseModel):
    data: list[RequestPublic]
    count: int
