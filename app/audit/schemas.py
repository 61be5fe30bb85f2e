from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.core.schemas import Strict
from app.core.validation import MAX_INT


class EventPublic(BaseModel):
    seq: int
    recorded_at: datetime
    action: str
    actor_kind: str
    actor_id: int | None
    actor_role: str
    station_id: int | None
    carrier_id: int | None
    location_id: int | None
    payload: dict[str, Any]
    prev_hash: str
    hash: str


class EventListPublic(BaseModel):
    data: list[EventPublic]
    next: str | None = Field(
        default=None, description="The cursor of the next page; none after the last page."
    )


class VerifyPublic(BaseModel):
    ok: bool
    size: int
    head_hash: str
    first_bad_seq: int | None
    reason: str | None


class QueryDigestPublic(BaseModel):
    query_digest: str


class CheckpointFile(Strict):
    """An exported checkpoint, exactly as written to the file."""

    origin: str = Field(max_length=200)
    size: int = Field(ge=0, le=MAX_INT)
    head: str = Field(pattern=r"^[0-9a-f]{64}$")
    signed_at: str = Field(max_length=40)
    key_id: str = Field(pattern=r"^[0-9a-f]{16}$")
    public_key: str = Field(max_length=100)
    signature: str = Field(max_length=200)
