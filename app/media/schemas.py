"""A station's reading of a medium, sent as JSON, and what intake and fixity answer."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field, model_validator

from app.carriers.schemas import CarrierKind
from app.core.schemas import Strict
from app.core.validation import LOCATION_CODE_PATTERN, MAX_INT, MAX_MODALITIES, Modality
from app.media.reading import (
    FileEntry,
    MediumReading,
    Problem,
    ProblemCode,
    Severity,
    StudySummary,
)

MAX_FILE_SIZE = 2**42
MAX_FILES = 200_000
_SHA256 = r"^[0-9a-f]{64}$"
_UID = r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$"


class FileIn(Strict):
    path: str = Field(min_length=1, max_length=255)
    # 4 TiB: larger than any file on a disc or a tape; 200,000 of them still sum in a BIGINT.
    size: int = Field(ge=0, le=MAX_FILE_SIZE)
    sha256: str = Field(pattern=_SHA256)
    sop_instance_uid: str | None = Field(default=None, max_length=64)
    sop_class_uid: str | None = Field(default=None, max_length=64)
    transfer_syntax_uid: str | None = Field(default=None, max_length=64)
    study_instance_uid: str | None = Field(default=None, max_length=64)
    series_instance_uid: str | None = Field(default=None, max_length=64)


class StudyReadIn(Strict):
    study_instance_uid: str = Field(max_length=64, pattern=_UID)
    accession_number: str | None = Field(default=None, max_length=16)
    patient_id: str | None = Field(default=None, max_length=64)
    issuer_of_patient_id: str | None = Field(default=None, max_length=64)
    study_date: date | None = None
    study_id: str | None = Field(default=None, max_length=16)
    modalities: list[Modality] = Field(default=[], max_length=MAX_MODALITIES)
    series_count: int = Field(default=0, ge=0, le=MAX_INT)
    instance_count: int = Field(default=0, ge=0, le=MAX_INT)
    missing_instance_count: int = Field(default=0, ge=0, le=MAX_INT)


class ProblemIn(Strict):
    code: ProblemCode
    severity: Severity
    message: str = Field(max_length=500)
    path: str | None = Field(default=None, max_length=255)


class ReadingIn(Strict):
    """What ``app.media.reading.read_medium`` reports, as a station sends it."""

    fileset_id: str | None = Field(default=None, max_length=64)
    fileset_uid: str | None = Field(default=None, max_length=64)
    has_dicomdir: bool = False
    files: list[FileIn] = Field(max_length=MAX_FILES)
    studies: list[StudyReadIn] = Field(default=[], max_length=10_000)
    problems: list[ProblemIn] = Field(default=[], max_length=200_000)
    # The totals ``MediumReading.to_json`` adds; when sent they must agree with the lists.
    instance_count: int | None = Field(default=None, ge=0, le=MAX_INT)
    file_count: int | None = Field(default=None, ge=0, le=MAX_INT)
    byte_count: int | None = Field(default=None, ge=0, le=MAX_FILE_SIZE * MAX_FILES)

    @model_validator(mode="after")
    def _totals_agree(self) -> ReadingIn:
        reading = self.to_reading()
        for name, sent, actual in (
            ("instance_count", self.instance_count, reading.instance_count),
            ("file_count", self.file_count, len(reading.files)),
            ("byte_count", self.byte_count, reading.byte_count),
        ):
            if sent is not None and sent != actual:
                raise ValueError(f"{name} does not agree with the files listed")
        return self

    def to_reading(self) -> MediumReading:
        return MediumReading(
            fileset_id=self.fileset_id,
            fileset_uid=self.fileset_uid,
            has_dicomdir=self.has_dicomdir,
            files=tuple(FileEntry(**f.model_dump()) for f in self.files),
            studies=tuple(StudySummary(**s.model_dump()) for s in self.studies),
            problems=tuple(Problem(**p.model_dump()) for p in self.problems),
        )


class IntakeIn(ReadingIn):
    # For a label not yet registered: its media kind and home location.
    kind: CarrierKind | None = None
    home_location: str | None = Field(default=None, pattern=LOCATION_CODE_PATTERN)
    accept_problems: bool = False


class IntakePublic(BaseModel):
    label: str
    read_at: datetime
    fileset_id: str | None
    fileset_uid: str | None
    file_count: int
    instance_count: int
    byte_count: int
    manifest_sha256: str
    problem_count: int
    retention_until: date | None


class FixityPublic(BaseModel):
    label: str
    checked_at: datetime
    ok: bool
    summary: str
    checked: int
    missing: list[str]
    changed: list[str]
    extra: list[str]
    unreadable: list[str]


class ManifestLinePublic(BaseModel):
    path: str
    size: int
    sha256: str
    sop_instance_uid: str | None
    study_instance_uid: str | None


class ManifestPublic(BaseModel):
    label: str
    data: list[ManifestLinePublic]
    count: int
