from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.core.types import UTCDateTime


class Scan(SQLModel, table=True):
    """A station's raw read, kept with the answer it got so a redelivery answers the same."""

    __tablename__ = "scan"
    __table_args__ = (UniqueConstraint("station_id", "station_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=36, unique=True)
    station_id: int = Field(foreign_key="station.id")
    station_seq: int
    tag_uid: str = Field(max_length=64)
    technology: str = Field(max_length=16)
    read_at: datetime = Field(sa_type=UTCDateTime)  # as the station sent it
    # The station's clock was implausible (before 2000, or over a day ahead): the read counts
    # at received_at instead.
    clock_wrong: bool = False
    received_at: datetime = Field(sa_type=UTCDateTime)
    outcome: str = Field(max_length=20)
    event_seq: int | None = None
    response: str
