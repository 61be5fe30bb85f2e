from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class PacsCheckPublic(BaseModel):
    study_uid: str
    checked_at: datetime
    pacs: str
    status: str
    carrier_instances: int
    pacs_instances: int | None
    warnings: list[str]


class AtRiskPublic(BaseModel):
    label: str
    kind: str
    status: str
    checked_at: datetime
    # StudyInstanceUID -> partial / absent
    studies: dict[str, str]
