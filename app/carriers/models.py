from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Field, SQLModel

from app.core.time import utcnow
from app.core.types import UTCDateTime


class Carrier(SQLModel, table=True):
    """One physical medium. ``tag_id`` is its active tag: unique, so one carrier per tag and
    one active tag per carrier hold by construction; bindings keep the history."""

    __tablename__ = "carrier"

    id: int | None = Field(default=None, primary_key=True)
    label: str = Field(max_length=16, unique=True)
    kind: str = Field(max_length=8)
    status: str = Field(max_length=16, index=True)
    home_location_id: int = Field(foreign_key="location.id", index=True)
    current_location_id: int = Field(foreign_key="location.id", index=True)
    tag_id: int | None = Field(default=None, foreign_key="tag.id", unique=True)
    set_number: int | None = None
    set_total: int | None = None
    # The carriers of one set ("disc 2 of 3") share this key.
    set_key: str | None = Field(default=None, max_length=16, index=True)
    encrypted: bool = False
    lto_barcode: str | None = Field(default=None, max_length=8)
    cm_serial: str | None = Field(default=None, max_length=32)
    notes: str | None = Field(default=None, max_length=2000)
    legal_hold: bool = False
    fileset_id: str | None = Field(default=None, max_length=16)
    fileset_uid: str | None = Field(default=None, max_length=64)
    retention_until: date | None = None
    last_seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_seen_location_id: int | None = Field(default=None, foreign_key="location.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
