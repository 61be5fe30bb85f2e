"""Ask a PACS what it holds of a study: DICOMweb QIDO-RS (httpx) or DIMSE C-FIND (pynetdicom).

Both clients answer the same question with the same shape, so the check does not care which
protocol a site configured. Errors name the PACS and the failure, never the query's values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from pydicom.dataset import Dataset
from pynetdicom import AE

from app.core.errors import AppError, ErrorCode

# Tags as DICOM JSON (PS3.18 F.2) keys: 8 upper-case hex digits.
_PATIENT_ID = "00100020"
_ISSUER_OF_PATIENT_ID = "00100021"
_ACCESSION_NUMBER = "00080050"
_MODALITIES_IN_STUDY = "00080061"
_STUDY_INSTANCE_UID = "0020000D"
_NUMBER_OF_STUDY_RELATED_INSTANCES = "00201208"
# Study Root Query/Retrieve Information Model - FIND SOP Class (PS3.4 C.6.2, Table B.5-1).
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
# C-FIND statuses (PS3.4 C.4.1.1.4): pending (match follows) and success (no more matches).
_PENDING = (0xFF00, 0xFF01)
_SUCCESS = 0x0000
# The AE title MediaTrack presents to a PACS unless configured otherwise (PS3.5 AE: <= 16).
DEFAULT_CALLING_AET = "MEDIATRACK"


class PacsUnavailableError(AppError):
    """The PACS could not be asked; nothing about the studies is known."""

    status_code = 502
    code = ErrorCode.PACS_UNAVAILABLE


@dataclass(frozen=True)
class PacsStudy:
    """What the PACS reports for one study."""

    study_instance_uid: str
    patient_id: str | None
    issuer_of_patient_id: str | None
    accession_number: str | None
    modalities: tuple[str, ...]
    instance_count: int | None


class PacsClient(Protocol):
    name: str

    def find_studies(self, study_uids: Sequence[str]) -> dict[str, PacsStudy]:
        """The PACS's record of each study it holds, by StudyInstanceUID; absent ones omitted."""
        ...


def _count(value: Any) -> int | None:
    """NumberOfStudyRelatedInstances is IS (PS3.5 6.2); a PACS may omit or garble it."""
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


class QidoClient:
    """DICOMweb QIDO-RS Search Studies (PS3.18 10.6), one request per study."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        headers: dict[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.name = base_url.rstrip("/")
        self._client_args: dict[str, Any] = {
            "base_url": self.name,
            "timeout": timeout,
            "headers": {"Accept": "application/dicom+json", **(headers or {})},
            "transport": transport,
        }

    def find_studies(self, study_uids: Sequence[str]) -> dict[str, PacsStudy]:
        found: dict[str, PacsStudy] = {}
        with httpx.Client(**self._client_args) as client:
            for uid in study_uids:
                for item in self._search(client, uid):
                    study = self._study(item)
                    if study.study_instance_uid == uid:
                        found[uid] = study
        return found

    def _search(self, client: httpx.Client, uid: str) -> list[dict[str, Any]]:
        params = {
            "StudyInstanceUID": uid,
            "includefield": [
                _PATIENT_ID,
                _ISSUER_OF_PATIENT_ID,
                _ACCESSION_NUMBER,
                _MODALITIES_IN_STUDY,
                _NUMBER_OF_STUDY_RELATED_INSTANCES,
            ],
        }
        try:
            response = client.get("/studies", params=params)
        except httpx.HTTPError as exc:
            raise PacsUnavailableError(
                "The PACS at {name} did not answer ({problem}).",
                name=self.name, problem=type(exc).__name__,
            ) from exc
        # PS3.18 8.3.4: 204 No Content is a search without matches.
        if response.status_code == 204:
            return []
        if response.status_code != 200:
            raise PacsUnavailableError(
                "The PACS at {name} answered the study search with HTTP {status_code}.",
                name=self.name, status_code=response.status_code,
            )
        try:
            body = response.json()
        except ValueError as exc:
            raise PacsUnavailableError(
                "The PACS at {name} answered the study search with something not JSON.",
                name=self.name,
            ) from exc
        if not isinstance(body, list):
            raise PacsUnavailableError(
                "The PACS at {name} answered the study search with an unexpected shape.",
                name=self.name,
            )
        return [item for item in body if isinstance(item, dict)]

    @staticmethod
    def _study(item: dict[str, Any]) -> PacsStudy:
        def values(tag: str) -> list[Any]:
            element = item.get(tag)
            value = element.get("Value") if isinstance(element, dict) else None
            return value if isinstance(value, list) else []

        def first(tag: str) -> Any:
            found = values(tag)
            return found[0] if found else None

        return PacsStudy(
            study_instance_uid=_text(first(_STUDY_INSTANCE_UID)) or "",
            patient_id=_text(first(_PATIENT_ID)),
            issuer_of_patient_id=_text(first(_ISSUER_OF_PATIENT_ID)),
            accession_number=_text(first(_ACCESSION_NUMBER)),
            modalities=tuple(sorted(str(m) for m in values(_MODALITIES_IN_STUDY))),
            instance_count=_count(first(_NUMBER_OF_STUDY_RELATED_INSTANCES)),
        )


class CFindClient:
    """DIMSE C-FIND, Study Root Query/Retrieve at STUDY level (PS3.4 C.6.2), one association."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        called_aet: str,
        calling_aet: str = DEFAULT_CALLING_AET,
        timeout: float = 10.0,
    ) -> None:
        self.name = f"{called_aet}@{host}:{port}"
        self._host, self._port, self._called = host, port, called_aet
        self._calling, self._timeout = calling_aet, timeout

    def find_studies(self, study_uids: Sequence[str]) -> dict[str, PacsStudy]:
        ae = AE(ae_title=self._calling)
        ae.add_requested_context(STUDY_ROOT_FIND)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self._timeout
        assoc = ae.associate(self._host, self._port, ae_title=self._called)
        if not assoc.is_established:
            raise PacsUnavailableError(
                "The PACS {name} refused or did not answer the association (is "
                "MediaTrack's AE title {calling} allowed to query it?).",
                name=self.name, calling=self._calling,
            )
        found: dict[str, PacsStudy] = {}
        try:
            for uid in study_uids:
                for ident in self._find(assoc, uid):
                    study = self._study(ident)
                    if study.study_instance_uid == uid:
                        found[uid] = study
        finally:
            if assoc.is_established:
                assoc.release()
        return found

    def _find(self, assoc: Any, uid: str) -> Iterable[Dataset]:
        query = Dataset()
        query.QueryRetrieveLevel = "STUDY"
        query.StudyInstanceUID = uid
        # Empty values are return keys (PS3.4 C.2.2.1.1).
        for keyword in (
            "PatientID",
            "IssuerOfPatientID",
            "AccessionNumber",
            "ModalitiesInStudy",
            "NumberOfStudyRelatedInstances",
        ):
            setattr(query, keyword, "")
        matches = []
        for status, ident in assoc.send_c_find(query, STUDY_ROOT_FIND):
            if not status:
                raise PacsUnavailableError(
                    "The PACS {name} stopped answering a study query (timeout or abort).",
                    name=self.name,
                )
            if status.Status in _PENDING and ident is not None:
                matches.append(ident)
            elif status.Status != _SUCCESS and status.Status not in _PENDING:
                raise PacsUnavailableError(
                    "The PACS {name} failed a study query with status 0x{status:04X}.",
                    name=self.name, status=status.Status,
                )
        return matches

    @staticmethod
    def _study(ident: Dataset) -> PacsStudy:
        modalities = ident.get("ModalitiesInStudy", [])
        if isinstance(modalities, str):
            modalities = [modalities]
        return PacsStudy(
            study_instance_uid=_text(ident.get("StudyInstanceUID")) or "",
            patient_id=_text(ident.get("PatientID")),
            issuer_of_patient_id=_text(ident.get("IssuerOfPatientID")),
            accession_number=_text(ident.get("AccessionNumber")),
            modalities=tuple(sorted(str(m) for m in modalities if str(m).strip())),
            instance_count=_count(ident.get("NumberOfStudyRelatedInstances")),
        )
