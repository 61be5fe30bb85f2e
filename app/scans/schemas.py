from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from app.core.schemas import Strict
from app.core.validation import ReadTime, Technology

MAX_READS = 500


class ScanRead(Strict):
    event_id: uuid.UUID
    # INTEGER on both databases: two thousand million reads per station.
    station_seq: int = Field(ge=1, le=2**31 - 1)
    # Checked in the service, read by read: one bad UID must not block a station's outbox.
    tag_uid: str = Field(min_length=1, max_length=64)
    technology: Technology
    read_at: ReadTime


class ScanBatch(Strict):
    reads: list[ScanRead] = Field(min_length=1, max_length=MAX_READS)


class Outcome(StrEnum):
    SEEN = "seen"
    UNREGISTERED = "unregistered_tag"
    LOCATION = "location_tag"
    REJECTED = "rejected"


class ScanCarrier(BaseModel):
    label: str
    kind: str
    status: str
    location_path: str
    holder: str | None
    due_at: str | None
    set_number: int | None
    set_total: int | None
    legal_hold: bool
    studies: list[dict[str, str | int | None]]


class ScanResult(BaseModel):
    event_id: str
    station_seq: int
    outcome: Outcome
    replayed: bool = False
    # The station dated the read before 2000 or over a day ahead: its clock needs setting.
    clock_wrong: bool = False
    message: str
    carrier: ScanCarrier | None = None
    actions: list[str] = []


class ScanResults(BaseModel):
    results: list[ScanResult]
    received_at: datetime
