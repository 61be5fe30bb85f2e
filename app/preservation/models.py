"""Migration successors and destruction records."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.core.types import UTCDateTime


class Succession(SQLModel, table=True):
    """Carrier ``successor_id`` holds verified copies of studies of ``predecessor_id``."""

    __tablename__ = "carrier_succession"
    __table_args__ = (
        UniqueConstraint("predecessor_id", "successor_id", name="uq_carrier_succession"),
    )

    id: int | None = Field(default=None, primary_key=True)
    predecessor_id: int = Field(foreign_key="carrier.id")
    successor_id: int = Field(foreign_key="carrier.id", index=True)
    migrated_at: datetime = Field(sa_type=UTCDateTime)
    study_count: int
    event_seq: int


class DestructionRecord(SQLModel, table=True):
    """The printable record of a carrier's witnessed destruction."""

    __tablename__ = "destruction_record"

    id: int | None = Field(default=None, primary_key=True)
    carrier_id: int = Field(foreign_key="carrier.id", unique=True)
    destroyed_at: datetime = Field(sa_type=UTCDateTime)
    destroyed_by_id: int | None = Field(default=None, foreign_key="app_user.id")
    actor_role: str = Field(max_length=16)
    witness: str = Field(max_length=120)
    method: str = Field(max_length=64)
    retention_until: date
    # JSON list of the StudyInstanceUIDs the carrier held, and where each is kept now.
    studies: str
    event_seq: int
