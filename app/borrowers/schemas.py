from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

from app.core.schemas import Strict


class BorrowerKind(StrEnum):
    STAFF = "staff"
    DEPARTMENT = "department"
    EXTERNAL = "external"


class BorrowerCreate(Strict):
    name: str = Field(min_length=1, max_length=120)
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
