"""Who is acting: a member of staff, a station, or the system (command line, demo)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    CLERK = "clerk"
    CLINICIAN = "clinician"
    AUDITOR = "auditor"
    ADMIN = "admin"
    STATION = "station"
    SYSTEM = "system"


STAFF_ROLES = (Role.CLERK, Role.CLINICIAN, Role.AUDITOR, Role.ADMIN)


@dataclass(frozen=True)
class Principal:
    kind: str  # "user" | "station" | "system"
    id: int | None
    role: Role
    station_id: int | None = None
    location_id: int | None = None

    @property
    def user_id(self) -> int | None:
        return self.id if self.kind == "user" else None


SYSTEM = Principal(kind="system", id=None, role=Role.SYSTEM)
