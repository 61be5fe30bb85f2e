from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

from app.core.schemas import Strict
from app.core.validation import LOCATION_CODE_PATTERN, Name, TagUid


class LocationKind(StrEnum):
    SITE = "site"
    BUILDING = "building"
    ROOM = "room"
    CABINET = "cabinet"
    SHELF = "shelf"
    SLOT = "slot"
    VAULT = "vault"
    COURIER = "courier"
    DESK = "desk"


class LocationCreate(Strict):
    code: str = Field(pattern=LOCATION_CODE_PATTERN)
    name: Name
    kind: LocationKind
    parent: str | None = Field(default=None, pattern=LOCATION_CODE_PATTERN)
    tag_uid: TagUid | None = None


class LocationPublic(BaseModel):
    code: str
    name: str
    kind: str
    path: str
    parent: str | None
    tag_uid: str | None


class LocationListPublic(BaseModel):
    data: list[LocationPublic]
    count: int
