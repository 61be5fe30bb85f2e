from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field, model_validator

from app.core.schemas import Strict
from app.core.validation import LABEL_PATTERN, LOCATION_CODE_PATTERN


class CarrierKind(StrEnum):
    CD = "CD"
    DVD = "DVD"
    BD = "BD"
    M_DISC = "M-DISC"
    LTO5 = "LTO-5"
    LTO6 = "LTO-6"
    LTO7 = "LTO-7"
    LTO8 = "LTO-8"
    LTO9 = "LTO-9"
    LTO10 = "LTO-10"

    @property
    def is_tape(self) -> bool:
        return self.value.startswith("LTO")


class CarrierStatus(StrEnum):
    REGISTERED = "registered"
    IN_STORAGE = "in_storage"
    CHECKED_OUT = "checked_out"
    IN_TRANSIT = "in_transit"
    MISSING = "missing"
    FOUND = "found"
    RETIRED = "retired"
    DESTROYED = "destroyed"


class CarrierCreate(Strict):
    label: str = Field(pattern=LABEL_PATTERN)
    kind: CarrierKind
    home_location: str = Field(pattern=LOCATION_CODE_PATTERN)
    set_number: int | None = Field(default=None, ge=1, le=999)
    set_total: int | None = Field(default=None, ge=1, le=999)
    # Names the set so its parts can be found together; the label alphabet.
    set_key: str | None = Field(default=None, pattern=LABEL_PATTERN)
    encrypted: bool = False
    # LTO volser: 6 characters, plus the 2-character media-type suffix on the barcode.
    lto_barcode: str | None = Field(default=None, pattern=r"^[A-Z0-9]{6}(L[5-9A]|M8)?$")
    cm_serial: str | None = Field(default=None, max_length=32, pattern=r"^[A-Za-z0-9\-]+$")
    notes: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _set_information(self) -> CarrierCreate:
        if (self.set_number is None) != (self.set_total is None):
            raise ValueError("give both set_number and set_total (part n of m), or neither")
        if self.set_number and self.set_total and self.set_number > self.set_total:
            raise ValueError("set_number cannot be larger than set_total")
        if self.set_key and not self.set_total:
            raise ValueError("set_key names a set: give set_number and set_total too")
        if (self.lto_barcode or self.cm_serial) and not self.kind.is_tape:
            raise ValueError("lto_barcode and cm_serial are for LTO cartridges only")
        return self


class PlacePublic(BaseModel):
    code: str
    path: str


class TagPublic(BaseModel):
    uid: str
    technology: str
    tag_type: str | None


class HolderPublic(BaseModel):
    borrower: str
    department: str | None
    purpose: str
    since: datetime
    due_on: date
    overdue: bool


class TransitPublic(BaseModel):
    transfer_id: int
    to: PlacePublic
    seal_number: str | None
    expected_on: date | None


class StudyBrief(BaseModel):
    study_uid: str
    study_date: date | None
    modalities: str
    accession_number: str | None
    instance_count: int


class CarrierPublic(BaseModel):
    label: str
    kind: str
    status: str
    home: PlacePublic
    location: PlacePublic
    tag: TagPublic | None
    set_number: int | None
    set_total: int | None
    set_key: str | None
    encrypted: bool
    lto_barcode: str | None
    cm_serial: str | None
    legal_hold: bool
    holder: HolderPublic | None
    transit: TransitPublic | None
    last_seen_at: datetime | None
    studies: list[StudyBrief]


class CarrierListPublic(BaseModel):
    data: list[CarrierPublic]
    count: int
