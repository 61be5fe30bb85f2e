from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from app.carriers.schemas import CarrierPublic, PlacePublic
from app.core.schemas import Strict
from app.core.validation import LOCATION_CODE_PATTERN, MAX_INT, IsoDate


class CheckOut(Strict):
    borrower_id: int = Field(ge=1, le=MAX_INT)
    purpose: str = Field(min_length=2, max_length=16, pattern=r"^[A-Z]+$")
    due_on: IsoDate | None = None
    approver: str | None = Field(default=None, max_length=64)


class Return(Strict):
    location: str | None = Field(default=None, pattern=LOCATION_CODE_PATTERN)


class Store(Strict):
    location: str = Field(pattern=LOCATION_CODE_PATTERN)
    # The place becomes the carrier's home too (where a return with no place takes it).
    home: bool = False


class Dispatch(Strict):
    labels: list[str] = Field(min_length=1, max_length=500)
    to_location: str = Field(pattern=LOCATION_CODE_PATTERN)
    seal_number: str | None = Field(default=None, max_length=32, pattern=r"^[A-Za-z0-9\-]+$")
    expected_on: IsoDate | None = None


class Receive(Strict):
    labels: list[str] | None = Field(default=None, min_length=1, max_length=500)


class Missing(Strict):
    note: str | None = Field(default=None, max_length=500)


class Found(Strict):
    location: str = Field(pattern=LOCATION_CODE_PATTERN)
    note: str | None = Field(default=None, max_length=500)


class Hold(Strict):
    reason: str = Field(min_length=3, max_length=500)


class Release(Strict):
    reason: str = Field(min_length=3, max_length=500)


class Retire(Strict):
    reason: str = Field(min_length=3, max_length=500)


class TransferPublic(BaseModel):
    id: int
    from_: PlacePublic = Field(serialization_alias="from")
    to: PlacePublic
    seal_number: str | None
    expected_on: date | None
    carriers: list[str]
    open_carriers: list[str]


class OverdueLoan(BaseModel):
    carrier: CarrierPublic
    days_overdue: int


class OverdueTransfer(BaseModel):
    transfer: TransferPublic
    days_overdue: int


class OverduePublic(BaseModel):
    loans: list[OverdueLoan]
    transfers: list[OverdueTransfer]
