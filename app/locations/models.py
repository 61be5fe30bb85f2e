from __future__ import annotations

from sqlmodel import Field, SQLModel


class Location(SQLModel, table=True):
    """A node of the location tree: site > building > room > cabinet > shelf > slot, or a
    vault, courier or "in transit". ``path`` is the printable path, kept on write because
    locations are read on every scan and almost never move."""

    __tablename__ = "location"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=120)
    kind: str = Field(max_length=16)
    parent_id: int | None = Field(default=None, foreign_key="location.id", index=True)
    path: str = Field(max_length=1000)
    tag_uid: str | None = Field(default=None, max_length=20, unique=True)
