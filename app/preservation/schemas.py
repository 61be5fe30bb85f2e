from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from app.core.schemas import Strict
from app.core.validation import LABEL_PATTERN, DicomUid


class MigrateIn(Strict):
    successor: str = Field(pattern=LABEL_PATTERN)
    # The studies moved; all of the carrier's studies when left out.
    study_uids: list[DicomUid] | None = Field(
        default=None, max_length=10_000
    )


class SuccessionPublic(BaseModel):
    predecessor: str
    successor: str
    migrated_at: datetime
    study_count: int


class DueCarrierPublic(BaseModel):
    label: str
    kind: str
    status: str
    last_verified: date | None
    reasons: list[str]


class StudySafetyPublic(BaseModel):
    study_uid: str
    safe_on: str | None


class RetentionPublic(BaseModel):
    label: str
    retention_until: date | None
    legal_hold: bool


class DestroyIn(Strict):
    witness: str = Field(min_length=1, max_length=120)
    method: str = Field(default="shredded", min_length=1, max_length=64)


class DestructionPublic(BaseModel):
    label: str
    destroyed_at: datetime
    witness: str
    method: str
    retention_until: date
    studies: dict[str, str | None]
