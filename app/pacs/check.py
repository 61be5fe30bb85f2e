"""Compare what a carrier holds of each study with what the PACS holds.

Matching is by StudyInstanceUID only: a PACS rewrites PatientID and AccessionNumber on import
(IHE IRWF, merges), so a difference there is a warning, never a failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from app.pacs.clients import PacsClient, PacsStudy


class PacsStatus(StrEnum):
    COMPLETE = "complete"
    PARTIAL = "partial"
    ABSENT = "absent"


class LocalStudy(Protocol):
    """What the carrier says about a study (a study summary or a database row)."""

    @property
    def study_instance_uid(self) -> str: ...
    @property
    def patient_id(self) -> str | None: ...
    @property
    def accession_number(self) -> str | None: ...
    @property
    def instance_count(self) -> int: ...


@dataclass(frozen=True)
class StudyCheck:
    study_instance_uid: str
    status: PacsStatus
    carrier_instances: int
    pacs_instances: int | None
    warnings: tuple[str, ...]

    @property
    def at_risk(self) -> bool:
        """The carrier may hold the only copy of (part of) the study."""
        return self.status is not PacsStatus.COMPLETE


def assess(local: LocalStudy, found: PacsStudy | None) -> StudyCheck:
    """Complete (the PACS has at least as many instances), partial, or absent; plus warnings.

    Warnings never quote the identifiers themselves: they are patient data.
    """
    if found is None:
        return StudyCheck(
            local.study_instance_uid, PacsStatus.ABSENT, local.instance_count, None, ()
        )
    warnings: list[str] = []
    if local.patient_id and found.patient_id and local.patient_id != found.patient_id:
        warnings.append("The PACS files this study under another PatientID than the carrier.")
    if (
        local.accession_number
        and found.accession_number
        and local.accession_number != found.accession_number
    ):
        warnings.append("The PACS gives this study another accession number than the carrier.")
    if found.instance_count is None:
        warnings.append("The PACS did not report how many instances it holds; counted as partial.")
        status = PacsStatus.PARTIAL
    elif found.instance_count < local.instance_count:
        status = PacsStatus.PARTIAL
    else:
        status = PacsStatus.COMPLETE
        if found.instance_count > local.instance_count:
            warnings.append(
                f"The PACS holds {found.instance_count} instances, the carrier "
                f"{local.instance_count}."
            )
    return StudyCheck(
        local.study_instance_uid,
        status,
        local.instance_count,
        found.instance_count,
        tuple(warnings),
    )


def check_studies(client: PacsClient, studies: Sequence[LocalStudy]) -> list[StudyCheck]:
    """Ask the PACS about every study and assess each; raises PacsUnavailableError."""
    found = client.find_studies([s.study_instance_uid for s in studies])
    return [assess(s, found.get(s.study_instance_uid)) for s in studies]
