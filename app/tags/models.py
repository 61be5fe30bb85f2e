from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.core.time import utcnow
from app.core.types import UTCDateTime


class Tag(SQLModel, table=True):
    __tablename__ = "tag"

    id: int | None = Field(default=None, primary_key=True)
    uid: str = Field(max_length=20, unique=True)
    technology: str = Field(max_length=16)
    tag_type: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class TagBinding(SQLModel, table=True):
    """History of which tag labelled which carrier; the open row mirrors ``carrier.tag_id``."""

    __tablename__ = "tag_binding"

    id: int | None = Field(default=None, primary_key=True)
    tag_id: int = Field(foreign_key="tag.id", index=True)
    carrier_id: int = Field(foreign_key="carrier.id", index=True)
    bound_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    unbound_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class LabelJob(SQLModel, table=True):
    """A station asked to write a carrier's label on a tag (the desk's "register this carrier"
    registers and binds; the station then writes while the tag rests on its reader).

    The label itself is composed when the station fetches the job, from the carrier the tag
    labels at that moment: a tag taken off its carrier in between is never written."""

    __tablename__ = "label_job"

    id: int | None = Field(default=None, primary_key=True)
    station_id: int = Field(foreign_key="station.id", index=True)
    tag_id: int = Field(foreign_key="tag.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Set once: when the station reported, whether the tag kept the label, and if not why.
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    written: bool | None = None
    reason: str | None = Field(default=None, max_length=200)
