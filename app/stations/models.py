from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.core.time import utcnow
from app.core.types import UTCDateTime


class Station(SQLModel, table=True):
    """A reader place. Its API key is shown once; only its SHA-256 is kept."""

    __tablename__ = "station"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    kind: str = Field(default="desk", max_length=16)
    location_id: int = Field(foreign_key="location.id")
    key_prefix: str = Field(max_length=16, unique=True)
    key_hash: str = Field(max_length=64)
    # The key before the latest rotation, valid until its expiry so that the station can be
    # given the new one without a moment refused (app.stations.service.rotate_key).
    previous_key_prefix: str | None = Field(default=None, max_length=16, unique=True, index=True)
    previous_key_hash: str | None = Field(default=None, max_length=64)
    previous_key_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_seq: int = 0
    # The station's latest read carried an implausible time: its clock needs setting.
    clock_wrong: bool = False
    # The shelf whose tag the station read last (a handheld sweeping): carriers read soon after
    # are seen on that shelf, not at the station's own place (see app.scans.service).
    shelf_id: int | None = Field(default=None, foreign_key="location.id")
    shelf_set_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
