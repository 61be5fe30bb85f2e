"""Inventory request and answer bodies: the contract the phone page, the laptop agent
(``mediatrack station run --mode inventory``) and the pages share."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field, model_validator

from app.core.schemas import Strict
from app.core.validation import (
    LABEL_PATTERN,
    LOCATION_CODE_PATTERN,
    IsoDate,
    Name,
    ReadTime,
    Technology,
)

# Reads per request: a whole shelf, or an offline phone's backlog delivered in slices.
MAX_READS = 500
# NDEF records a phone passes on (Web NFC hands over every record of the message).
MAX_RECORDS = 8


class CampaignCreate(Strict):
    name: Name
    scope: str = Field(pattern=LOCATION_CODE_PATTERN, description="code of the subtree's root")
    starts_on: IsoDate
    ends_on: IsoDate


class NdefRecord(Strict):
    """One record as Web NFC gives it: ``recordType`` ("url", "text", or an external type
    ``domain:type``) and its payload bytes in hexadecimal."""

    type: str = Field(min_length=1, max_length=64)
    data: str = Field(max_length=512, pattern=r"^([0-9a-fA-F]{2})*$")


class InventoryRead(Strict):
    """One read of a sweep. Exactly one of ``tag_uid`` (a reader's or Web NFC's serial
    number), ``label`` (typed or scanned from the printed label) or ``location`` (a shelf chosen
    on the page or scanned from its shelf-label QR). A location tag's UID is a ``tag_uid``."""

    event_id: uuid.UUID
    # The device's sweep: made by the device (the phone makes it offline), one per person and
    # device; a location read sets the session's shelf for the reads after it in read time.
    session: uuid.UUID
    read_at: ReadTime
    tag_uid: str | None = Field(default=None, min_length=1, max_length=64)
    technology: Technology | None = None
    label: str | None = Field(default=None, pattern=LABEL_PATTERN)
    location: str | None = Field(default=None, pattern=LOCATION_CODE_PATTERN)
    # The tag's NDEF records, so the server checks the label's keyed checksum.
    records: list[NdefRecord] = Field(default_factory=list, max_length=MAX_RECORDS)
    device: str = Field(default="", max_length=32, description='"phone", "laptop", ...')

    @model_validator(mode="after")
    def _one_subject(self) -> InventoryRead:
        given = [x for x in (self.tag_uid, self.label, self.location) if x is not None]
        if len(given) != 1:
            raise ValueError("a read names exactly one of tag_uid, label or location")
        return self


class ReadBatch(Strict):
    reads: list[InventoryRead] = Field(min_length=1, max_length=MAX_READS)


class ReadClass(StrEnum):
    """What one read turned out to be. The first five are a carrier's classes in the
    reconciliation (``not_seen`` only in reports); the others answer a read alone."""

    FOUND = "found"  # on the shelf the record says
    MISPLACED = "misplaced"  # in storage, but on another shelf
    UNEXPECTED = "unexpected"  # the record says lent, in transit, missing, retired, ...
    UNKNOWN = "unknown"  # a tag no carrier or location is registered under
    NOT_SEEN = "not_seen"  # expected on a swept shelf, not read (reports only)
    SHELF = "shelf"  # a location: the session's shelf from now on
    NO_SHELF = "no_shelf"  # a carrier read before any shelf was set in the session
    OUT_OF_SCOPE = "out_of_scope"  # a shelf outside the campaign's scope
    ALTERED = "altered"  # the label's keyed checksum does not match: copied or edited
    REJECTED = "rejected"  # not a UID, an unknown label or location code


CARRIER_CLASSES = (
    ReadClass.FOUND,
    ReadClass.MISPLACED,
    ReadClass.UNEXPECTED,
    ReadClass.UNKNOWN,
    ReadClass.NOT_SEEN,
)


class ShelfProgress(BaseModel):
    code: str
    path: str
    expected: int
    seen: int  # of the expected, read on it in this campaign


class ReadResult(BaseModel):
    event_id: str
    read_class: ReadClass = Field(serialization_alias="class")
    replayed: bool = False
    # The same tag was read before in this session: it counts once.
    duplicate: bool = False
    label: str | None = None
    # The shelf the read was placed on (for a carrier) or set (for a location).
    shelf: str | None = None
    message: str

    model_config = {"populate_by_name": True}


class ReadResults(BaseModel):
    counts: dict[str, int]
    results: list[ReadResult]
    # The shelf of the batch's last session after the batch, with its progress.
    shelf: ShelfProgress | None = None
    received_at: datetime


class CampaignPublic(BaseModel):
    id: int
    name: str
    scope: str
    scope_path: str
    starts_on: date
    ends_on: date
    owner: str
    closed_at: datetime | None
    counts: dict[str, int]


class ResolveAction(StrEnum):
    """The correction offered per class (each one a logged custody event)."""

    PUT_BACK = "put_back"  # misplaced: staff put it back on its shelf
    NEW_HOME = "new_home"  # misplaced: the shelf it was found on is its home from now on
    RETURN = "return"  # unexpected, lent: returned onto the shelf it was found on
    RECEIVE = "receive"  # unexpected, in transit: received where it was found
    FOUND = "found"  # unexpected, missing: found on that shelf
    STORE = "store"  # unexpected, registered or found but never stored: stored on that shelf


class Resolve(Strict):
    label: str = Field(pattern=LABEL_PATTERN)
    action: ResolveAction


class Close(Strict):
    # Report the carriers not seen on swept shelves missing, in the same step.
    report_missing: bool = False


class ReportItem(BaseModel):
    label: str
    kind: str
    read_class: ReadClass = Field(serialization_alias="class")
    status: str
    expected: str | None  # path of the shelf the record says
    seen_on: str | None  # path of the shelf it was read on
    read_at: datetime | None
    resolution: str | None
    actions: list[ResolveAction]

    model_config = {"populate_by_name": True}


class ShelfState(StrEnum):
    SWEPT = "swept"
    IN_PROGRESS = "in_progress"
    NOT_SWEPT = "not_swept"


class ShelfReport(BaseModel):
    code: str
    path: str
    state: ShelfState
    expected: int
    counts: dict[str, int]
    items: list[ReportItem]


class UnknownTag(BaseModel):
    tag_uid: str
    seen_on: str | None
    read_at: datetime


class Report(BaseModel):
    campaign: CampaignPublic
    shelves: list[ShelfReport]
    unknown: list[UnknownTag]
    altered: list[UnknownTag]


class CloseSummary(BaseModel):
    campaign: CampaignPublic
    changed: int  # carriers whose state the close changed (one inventory-result event each)
    reported_missing: list[str]
