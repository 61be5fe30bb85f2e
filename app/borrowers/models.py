from __future__ import annotations

from sqlmodel import Field, SQLModel


class Borrower(SQLModel, table=True):
    """Whoever a carrier is lent to: a clinician, a department, an outside party."""

    __tablename__ = "borrower"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    department: str | None = Field(default=None, max_length=120)
    kind: str = Field(default="staff", max_length=16)
    active: bool = True
