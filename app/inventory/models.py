from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from app.core.time import utcnow
from app.core.types import UTCDateTime


class Campaign(SQLModel, table=True):
    """An inventory over a subtree of locations, for a window of days, by many people."""

    __tablename__ = "inventory_campaign"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    scope_location_id: int = Field(foreign_key="location.id")
    starts_on: date
    ends_on: date
    owner_id: int | None = Field(default=None, foreign_key="app_user.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_by_id: int | None = Field(default=None, foreign_key="app_user.id")


class SweepSession(SQLModel, table=True):
    """One person (or station) with one device sweeping part of a campaign's scope. The
    device names it (a UUID made offline if need be); the shelf it is on is the location read
    last, in read time."""

    __tablename__ = "inventory_session"

    id: int | None = Field(default=None, primary_key=True)
    uuid: str = Field(max_length=36, unique=True)
    campaign_id: int = Field(foreign_key="inventory_campaign.id", index=True)
    user_id: int | None = Field(default=None, foreign_key="app_user.id")
    station_id: int | None = Field(default=None, foreign_key="station.id")
    device: str = Field(default="", max_length=32)
    started_at: datetime = Field(sa_type=UTCDateTime)
    last_read_at: datetime = Field(sa_type=UTCDateTime)
    shelf_id: int | None = Field(default=None, foreign_key="location.id")


class SweepRead(SQLModel, table=True):
    """Every read as it came, with the class it got: a redelivery answers the same."""

    __tablename__ = "inventory_read"
    # A batch asks for its sessions' shelf reads (the timeline its carrier reads are placed
    # on), and for reads of one class after a time: neither walks a whole session's reads.
    __table_args__ = (
        Index("ix_inventory_read_session_class_time", "session_id", "read_class", "read_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=36, unique=True)
    campaign_id: int = Field(foreign_key="inventory_campaign.id", index=True)
    session_id: int = Field(foreign_key="inventory_session.id")
    read_at: datetime = Field(sa_type=UTCDateTime)
    received_at: datetime = Field(sa_type=UTCDateTime)
    tag_uid: str | None = Field(default=None, max_length=20)
    label: str | None = Field(default=None, max_length=16)
    # A location read: the shelf it set. A carrier read: the shelf it was placed on.
    shelf_id: int | None = Field(default=None, foreign_key="location.id")
    carrier_id: int | None = Field(default=None, foreign_key="carrier.id")
    read_class: str = Field(max_length=16)
    duplicate: bool = False
    message: str = Field(max_length=300)


class Sighting(SQLModel, table=True):
    """A carrier's place in a campaign: the shelf of its latest read (in read time) and the
    class that gives it; kept as reads arrive, changed by resolutions and the close."""

    __tablename__ = "inventory_sighting"
    __table_args__ = (Index("ix_inventory_sighting_carrier", "carrier_id"),)

    campaign_id: int = Field(foreign_key="inventory_campaign.id", primary_key=True)
    carrier_id: int = Field(foreign_key="carrier.id", primary_key=True)
    shelf_id: int = Field(foreign_key="location.id")
    read_at: datetime = Field(sa_type=UTCDateTime)
    # None for a carrier the close found not seen.
    session_id: int | None = Field(default=None, foreign_key="inventory_session.id")
    read_class: str = Field(max_length=16)
    # How it was settled: put_back, new_home, return, receive, found (see ResolveAction).
    resolution: str | None = Field(default=None, max_length=16)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
