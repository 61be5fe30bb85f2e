from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from app.carriers.schemas import CarrierPublic, PlacePublic
from app.core.schemas import Strict
from app.core.validation import (
    MAX_INT,
    IsoDate,
    Label,
    LocationCode,
    Note,
    Purpose,
    Reason,
)


class CheckOut(Strict):
    borrower_id: int = Field(ge=1, le=MAX_INT)
    purpose: Purpose
    due_on: IsoDate | None = None
    approver: str | None = Field(default=None, max_length=64)


class Return(Strict):
    location: LocationCode | None = None


class Store(Strict):
    location: LocationCode
    # The place becomes the carrier's home too (where a return with no place takes it).
    home: bool = False


class Dispatch(Strict):
    labels: list[Label] = Field(
        min_length=1, max_length=500, json_schema_extra={"uniqueItems": True}
    )
    to_location: LocationCode
    seal_number: str | None = Field(default=None, max_length=32, pattern=r"^[A-Za-z0-9\-]+$")
    expected_on: IsoDate | None = None


class Receive(Strict):
    labels: list[Label] | None = Field(
        default=None, min_length=1, max_length=500, json_schema_extra={"uniqueItems": True}
    )


class Missing(Strict):
    note: Note | None = None


class Found(Strict):
    location: LocationCode
    note: Note | None = None


class Hold(Strict):
    reason: Reason


class Release(Strict):
    reason: Reason


class Retire(Strict):
    reason: Reason


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
