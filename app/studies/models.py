from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from app.core.time import utcnow
from app.core.types import UTCDateTime


class Study(SQLModel, table=True):
    """A DICOM study. Patient names are never stored."""

    __tablename__ = "study"
    # "Where is it?" by patient ID, with or without the issuer: one probe of one index.
    __table_args__ = (Index("ix_study_patient_issuer", "patient_id", "issuer_of_patient_id"),)

    id: int | None = Field(default=None, primary_key=True)
    study_uid: str = Field(max_length=64, unique=True)
    accession_number: str | None = Field(default=None, max_length=16, index=True)
    patient_id: str | None = Field(default=None, max_length=64)
    issuer_of_patient_id: str | None = Field(default=None, max_length=64)
    study_date: date | None = None
    # DICOM ModalitiesInStudy (0008,0061), values joined by "\" as in the standard.
    modalities: str = Field(default="", max_length=64)
    series_count: int = 0
    instance_count: int = 0
    # inpatient / outpatient / None: drives the retention rule.
    encounter_class: str | None = Field(default=None, max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CarrierStudy(SQLModel, table=True):
    """A study (or part of it) held on a carrier."""

    __tablename__ = "carrier_study"

    carrier_id: int = Field(foreign_key="carrier.id", primary_key=True)
    study_id: int = Field(foreign_key="study.id", primary_key=True, index=True)
    instance_count: int = 0
    linked_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
