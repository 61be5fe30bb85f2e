from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

from app.core.schemas import Strict
from app.core.validation import Name


class BorrowerKind(StrEnum):
    STAFF = "staff"
    DEPARTMENT = "department"
    EXTERNAL = "external"


class BorrowerCreate(Strict):
    name: Name
    department: str | None = Field(default=None, max_length=120)
    kind: BorrowerKind = BorrowerKind.STAFF


class BorrowerPublic(BaseModel):
    id: int
    name: str
    department: str | None
    kind: str
    active: bool


class BorrowerListPublic(BaseModel):
    data: list[BorrowerPublic]
    count: int
