"""What a PACS answered about each study of a carrier, and when."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.core.types import UTCDateTime


class PacsCheck(SQLModel, table=True):
    __tablename__ = "pacs_check"

    id: int | None = Field(default=None, primary_key=True)
    carrier_id: int = Field(foreign_key="carrier.id", index=True)
    study_id: int = Field(foreign_key="study.id", index=True)
    checked_at: datetime = Field(sa_type=UTCDateTime)
    # Which PACS answered: a DICOMweb base URL or AET@host:port.
    pacs: str = Field(max_length=200)
    # complete / partial / absent (app.pacs.check.PacsStatus)
    status: str = Field(max_length=16)
    carrier_instances: int
    pacs_instances: int | None = None
    # JSON list of sentences; never the identifiers themselves.
    warnings: str
