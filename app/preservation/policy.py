"""Retention and verification rules, configurable from the environment (prefix MEDIATRACK_).

Retention defaults follow 医疗机构病历管理规定 (2013) Art. 29: outpatient records at least 15 years,
inpatient records at least 30 years; a study whose encounter is unknown gets the longer term.
Verification defaults follow ISO/IEC 29121 (test optical media at least every three years when
their lifetime is unknown) and the LTO drive compatibility window (a tape must be read while a
drive that reads its generation is still in service).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Which drive generations read a tape of each generation (LTO Consortium; since LTO-8 a drive
# reads one generation back, LTO-10 only its own).
LTO_READERS: dict[str, tuple[str, ...]] = {
    "LTO-5": ("LTO-5", "LTO-6", "LTO-7"),
    "LTO-6": ("LTO-6", "LTO-7"),
    "LTO-7": ("LTO-7", "LTO-8"),
    "LTO-8": ("LTO-8", "LTO-9"),
    "LTO-9": ("LTO-9",),
    "LTO-10": ("LTO-10",),
}


class PreservationPolicy(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDIATRACK_", extra="ignore")

    RETENTION_OUTPATIENT_YEARS: int = Field(default=15, ge=1, le=200)
    RETENTION_INPATIENT_YEARS: int = Field(default=30, ge=1, le=200)
    RETENTION_UNKNOWN_YEARS: int = Field(default=30, ge=1, le=200)
    # Optical media (CD, DVD, BD, M-DISC): full read-verify at least this often.
    VERIFY_OPTICAL_YEARS: int = Field(default=3, ge=1, le=50)
    # Tape drives in service and the day each goes out of service ("" = no date planned),
    # e.g. "LTO-8=2030-06-30,LTO-9=". Empty: the tape rule is off.
    TAPE_DRIVES: Annotated[dict[str, date | None], NoDecode] = {}
    # How long before the last drive that reads a tape retires the tape falls due.
    TAPE_LEAD_DAYS: int = Field(default=365, ge=0, le=3650)

    @field_validator("TAPE_DRIVES", mode="before")
    @classmethod
    def _parse_drives(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        drives: dict[str, date | None] = {}
        for item in filter(None, (part.strip() for part in value.split(","))):
            generation, _, day = item.partition("=")
            if generation.strip() not in LTO_READERS:
                raise ValueError(f"{generation.strip()} is not an LTO drive generation")
            drives[generation.strip()] = date.fromisoformat(day.strip()) if day.strip() else None
        return drives

    def retention_years(self, encounter_class: str | None) -> int:
        return {
            "outpatient": self.RETENTION_OUTPATIENT_YEARS,
            "inpatient": self.RETENTION_INPATIENT_YEARS,
        }.get(encounter_class or "", self.RETENTION_UNKNOWN_YEARS)


def add_years(day: date, years: int) -> date:
    """The same calendar day ``years`` later; 29 February becomes 1 March."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return date(day.year + years, 3, 1)


def retention_until(
    studies: Iterable[tuple[date | None, str | None]], policy: PreservationPolicy
) -> date | None:
    """The last day any study on the carrier must be kept: its date plus its rule's years.

    None when no study has a date: the carrier's retention cannot be worked out, so it is
    never due for disposal by default.
    """
    ends = [
        add_years(study_date, policy.retention_years(encounter))
        for study_date, encounter in studies
        if study_date is not None
    ]
    return max(ends) if ends else None


def verification_reasons(
    *,
    kind: str,
    last_verified: date | None,
    returned_since: bool,
    today: date,
    policy: PreservationPolicy,
) -> list[str]:
    """Why a carrier with a manifest is due for a full read-verify (empty: not due).
    ``last_verified`` is the day of the latest good verification in the site's zone."""
    reasons = []
    if last_verified is None:
        reasons.append("never verified since it was written or imported")
    if returned_since:
        reasons.append("returned from loan or transfer since its last verification")
    if kind in LTO_READERS:
        reasons += _tape_reasons(kind, today, policy)
    elif last_verified is not None:
        due = add_years(last_verified, policy.VERIFY_OPTICAL_YEARS)
        if due <= today:
            reasons.append(
                f"last verified {last_verified.isoformat()}, more than "
                f"{policy.VERIFY_OPTICAL_YEARS} years ago"
            )
    return reasons


def _tape_reasons(kind: str, today: date, policy: PreservationPolicy) -> list[str]:
    if not policy.TAPE_DRIVES:
        return []
    readers = [g for g in LTO_READERS[kind] if g in policy.TAPE_DRIVES]
    if not readers:
        return [f"no drive in service reads {kind}: migrate it"]
    retirements = [policy.TAPE_DRIVES[g] for g in readers]
    if any(day is None for day in retirements):
        return []
    last = max(day for day in retirements if day is not None)
    if last - timedelta(days=policy.TAPE_LEAD_DAYS) <= today:
        return [f"the last drive that reads {kind} goes out of service on {last.isoformat()}"]
    return []
