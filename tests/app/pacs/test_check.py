"""PACS linkage against a real Orthanc, over QIDO-RS and over C-FIND."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from pydicom import dcmread

from app.media.reading import StudySummary, read_medium
from app.pacs.check import PacsStatus, assess, check_studies
from app.pacs.clients import PacsClient, PacsStudy, PacsUnavailableError, QidoClient
from tests.app.media import factory
from tests.support.orthanc import Orthanc
from tests.support.ports import free_port

PROTOCOLS: dict[str, Callable[[Orthanc], PacsClient]] = {
    "qido": Orthanc.qido,
    "cfind": Orthanc.cfind,
}


@pytest.fixture(params=sorted(PROTOCOLS))
def client(request: pytest.FixtureRequest, orthanc: Orthanc) -> PacsClient:
    return PROTOCOLS[request.param](orthanc)


@pytest.fixture
def carrier(tmp_path: Path) -> tuple[Path, list[StudySummary]]:
    studies = [
        factory.StudySpec("PID101", [factory.SeriesSpec("CT", 3), factory.SeriesSpec("CT", 1)]),
        factory.StudySpec("PID102", [factory.SeriesSpec("MR", 2)], accession="ACC0102"),
        factory.StudySpec("PID103", [factory.SeriesSpec("XA", 1, frames=4)], accession="ACC0103"),
    ]
    root = tmp_path / "carrier"
    factory.write_folder(root, studies)
    # In the order written (a reading lists them by UID): the second one has two instances.
    by_uid = {s.study_instance_uid: s for s in read_medium(root).studies}
    return root, [by_uid[spec.uid] for spec in studies]


def files_of(root: Path, study_uid: str) -> list[Path]:
    return [
        p
        for p in sorted(root.rglob("*.dcm"))
        if dcmread(p, stop_before_pixels=True).StudyInstanceUID == study_uid
    ]


class TestAgainstOrthanc:
    def test_complete_partial_absent(
        self, client: PacsClient, orthanc: Orthanc, carrier: tuple[Path, list[StudySummary]]
    ) -> None:
        root, studies = carrier
        complete, partial, absent = studies
        orthanc.upload(*files_of(root, complete.study_instance_uid))
        orthanc.upload(*files_of(root, partial.study_instance_uid)[:1])

        checks = {c.study_instance_uid: c for c in check_studies(client, studies)}

        assert checks[complete.study_instance_uid].status is PacsStatus.COMPLETE
        assert checks[complete.study_instance_uid].pacs_instances == complete.instance_count
        assert checks[complete.study_instance_uid].warnings == ()
        assert checks[partial.study_instance_uid].status is PacsStatus.PARTIAL
        assert checks[partial.study_instance_uid].pacs_instances == 1
        assert checks[absent.study_instance_uid].status is PacsStatus.ABSENT
        assert [c.at_risk for c in checks.values()].count(True) == 2

    def test_rewritten_patient_id_is_a_warning(
        self,
        client: PacsClient,
        orthanc: Orthanc,
        carrier: tuple[Path, list[StudySummary]],
        tmp_path: Path,
    ) -> None:
        root, studies = carrier
        study = studies[1]
        # The PACS coerced PatientID and accession on import (IHE IRWF).
        for n, path in enumerate(files_of(root, study.study_instance_uid)):
            ds = dcmread(path)
            ds.PatientID = "LOCAL777"
            ds.AccessionNumber = "RIS999"
            ds.save_as(tmp_path / f"coerced{n}.dcm")
            orthanc.upload(tmp_path / f"coerced{n}.dcm")

        [check] = check_studies(client, [study])

        assert check.status is PacsStatus.COMPLETE
        assert len(check.warnings) == 2
        assert study.patient_id is not None
        assert all("LOCAL777" not in w and study.patient_id not in w for w in check.warnings)

    def test_nothing_asked_nothing_found(self, client: PacsClient) -> None:
        assert check_studies(client, []) == []


class TestUnavailable:
    def test_cfind_from_an_unknown_ae_title_is_refused(self, orthanc: Orthanc) -> None:
        with pytest.raises(PacsUnavailableError, match="AE title INTRUDER"):
            orthanc.cfind(calling_aet="INTRUDER").find_studies(["1.2.3"])

    def test_closed_port(self) -> None:
        port = free_port()
        with pytest.raises(PacsUnavailableError, match="did not answer"):
            QidoClient(f"http://127.0.0.1:{port}/dicom-web", timeout=2).find_studies(["1.2.3"])

    @pytest.mark.parametrize(
        ("status", "body", "message"),
        [
            (500, b"boom", "HTTP 500"),
            (200, b"<html>", "not JSON"),
            (200, b'{"a": 1}', "unexpected shape"),
        ],
    )
    def test_bad_answers(self, status: int, body: bytes, message: str) -> None:
        transport = httpx.MockTransport(lambda _: httpx.Response(status, content=body))
        client = QidoClient("http://pacs.invalid/dicom-web", transport=transport)

        with pytest.raises(PacsUnavailableError, match=message):
            client.find_studies(["1.2.3"])

    def test_no_content_means_absent(self) -> None:
        transport = httpx.MockTransport(lambda _: httpx.Response(204))
        client = QidoClient("http://pacs.invalid/dicom-web", transport=transport)

        assert client.find_studies(["1.2.3"]) == {}


class TestAssess:
    local = StudySummary(
        study_instance_uid="1.2.3", patient_id="P1", accession_number="A1", instance_count=5
    )

    def pacs(self, count: int | None, patient_id: str = "P1") -> PacsStudy:
        return PacsStudy("1.2.3", patient_id, None, "A1", ("CT",), count)

    def test_more_in_the_pacs_is_complete_with_a_note(self) -> None:
        check = assess(self.local, self.pacs(7))
        assert check.status is PacsStatus.COMPLETE
        assert check.warnings == ("The PACS holds 7 instances, the carrier 5.",)

    def test_unknown_count_is_partial(self) -> None:
        check = assess(self.local, self.pacs(None))
        assert check.status is PacsStatus.PARTIAL
        assert check.at_risk

    def test_fewer_is_partial(self) -> None:
        assert assess(self.local, self.pacs(4)).status is PacsStatus.PARTIAL

    def test_absent(self) -> None:
        check = assess(self.local, None)
        assert (check.status, check.pacs_instances, check.carrier_instances) == (
            PacsStatus.ABSENT,
            None,
            5,
        )
