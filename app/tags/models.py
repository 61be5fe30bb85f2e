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
