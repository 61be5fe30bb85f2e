from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from app.core.schemas import Strict
from app.core.validation import LOCATION_CODE_PATTERN

# How long a station's old key may keep working after a rotation: up to a week, long enough
# to reach a station in another building, short enough that a forgotten old key ends.
MAX_GRACE_MINUTES = 7 * 24 * 60


class StationKind(StrEnum):
    DESK = "desk"
    VERIFY = "verify"
    HANDHELD = "handheld"
    PORTAL = "portal"


class StationCreate(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    kind: StationKind = StationKind.DESK
    location: str = Field(pattern=LOCATION_CODE_PATTERN)


class StationPublic(BaseModel):
    name: str
    kind: str
    location: str
    revoked: bool
    last_seen_at: datetime | None
    last_seq: int
    clock_wrong: bool = Field(
        description="The station's latest read carried an implausible time: set its clock."
    )
    old_key_valid_until: datetime | None = Field(
        description="After a key rotation: until when the previous key still works."
    )


class StationCreated(StationPublic):
    api_key: str = Field(description="Shown once; only its hash is kept.")


class StationListPublic(BaseModel):
    data: list[StationPublic]
    count: int
