from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel

from app.carriers.schemas import CarrierPublic


class QueryKind(StrEnum):
    AUTO = "auto"
    TAG = "tag"
    LABEL = "label"
    STUDY = "study"
    ACCESSION = "accession"
    PATIENT = "patient"


class OtherCopy(BaseModel):
    label: str
    kind: str
    status: str
    location_path: str
    shared_studies: list[str]


class WhereHit(BaseModel):
    carrier: CarrierPublic
    other_copies: list[OtherCopy]


class WhereResult(BaseModel):
    kind: QueryKind
    hits: list[WhereHit]
    # A patient ID found under several issuers: the hits mix patients; ask again with one.
    issuers: list[str] = []
