from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, Field

from app.core.schemas import Strict
from app.core.validation import MAX_INT, MAX_MODALITIES, DicomUid, IsoDate, Modality


class EncounterClass(StrEnum):
    INPATIENT = "inpatient"
    OUTPATIENT = "outpatient"



class StudyIn(Strict):
    study_uid: DicomUid
    # DICOM VRs: AccessionNumber SH (16), PatientID LO (64), IssuerOfPatientID LO (64).
    accession_number: str | None = Field(default=None, max_length=16)
    patient_id: str | None = Field(default=None, max_length=64)
    issuer_of_patient_id: str | None = Field(default=None, max_length=64)
    study_date: IsoDate | None = None
    modalities: list[Modality] = Field(default=[], max_length=MAX_MODALITIES)
    series_count: int = Field(default=0, ge=0, le=MAX_INT)
    instance_count: int = Field(default=0, ge=0, le=MAX_INT)
    encounter_class: EncounterClass | None = None


class StudyLink(Strict):
    studies: list[StudyIn] = Field(min_length=1, max_length=500)


class StudyPublic(BaseModel):
    study_uid: str
    accession_number: str | None
    patient_id: str | None
    issuer_of_patient_id: str | None
    study_date: date | None
    modalities: str
    series_count: int
    instance_count: int
    carriers: list[str]
