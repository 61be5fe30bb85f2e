from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from app.core.types import UTCDateTime


class Loan(SQLModel, table=True):
    """A check-out. The partial unique index lets the database itself refuse a second open
    loan of the same carrier, on SQLite and PostgreSQL alike."""

    __tablename__ = "loan"
    __table_args__ = (
        Index(
            "uq_loan_open_per_carrier",
            "carrier_id",
            unique=True,
            sqlite_where=text("returned_at IS NULL"),
            postgresql_where=text("returned_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    carrier_id: int = Field(foreign_key="carrier.id", index=True)
    borrower_id: int = Field(foreign_key="borrower.id", index=True)
    purpose: str = Field(max_length=16)
    approver_id: int | None = Field(default=None, foreign_key="app_user.id")
    out_by_id: int | None = Field(default=None, foreign_key="app_user.id")
    out_at: datetime = Field(sa_type=UTCDateTime)
    due_on: date = Field(index=True)
    returned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Transfer(SQLModel, table=True):
    """A dispatch of one or many carriers from one location to another."""

    __tablename__ = "transfer"

    id: int | None = Field(default=None, primary_key=True)
    from_location_id: int = Field(foreign_key="location.id")
    to_location_id: int = Field(foreign_key="location.id")
    seal_number: str | None = Field(default=None, max_length=32)
    dispatched_at: datetime = Field(sa_type=UTCDateTime)
    expected_on: date | None = None
    dispatched_by_id: int | None = Field(default=None, foreign_key="app_user.id")


class TransferItem(SQLModel, table=True):
    """One carrier of a transfer. At most one open (unreceived) transfer per carrier."""

    __tablename__ = "transfer_item"
    __table_args__ = (
        Index(
            "uq_transfer_open_per_carrier",
            "carrier_id",
            unique=True,
            sqlite_where=text("closed_at IS NULL"),
            postgresql_where=text("closed_at IS NULL"),
        ),
    )

    transfer_id: int = Field(foreign_key="transfer.id", primary_key=True)
    carrier_id: int = Field(foreign_key="carrier.id", primary_key=True)
    # Set when the carrier is received, or found again after going missing on the way.
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
