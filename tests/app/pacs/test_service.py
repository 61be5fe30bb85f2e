"""PACS checks stored with their date, the at-risk list and retirement, against a real Orthanc,
over QIDO-RS and over C-FIND, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydicom import dcmread
from sqlalchemy import Engine

from app.carriers import service as carrier_service
from app.core.db import session_scope
from app.core.errors import ConflictError
from app.preservation import retirement
from tests.app.media import factory
from tests.app.media.flows import import_disc
from tests.factories import World
from tests.support.orthanc import Orthanc
from tests.support.ports import free_port

LABEL = "PACS0001"


@pytest.fixture
def studies() -> list[factory.StudySpec]:
    return [
        factory.StudySpec("PID301", [factory.SeriesSpec("CT", 3)], accession="A301"),
        factory.StudySpec("PID302", [factory.SeriesSpec("MR", 2)], accession="A302"),
        factory.StudySpec("PID303", [factory.SeriesSpec("CR", 1)], accession="A303"),
    ]


@pytest.fixture
def folder(tmp_path: Path, engine: Engine, world: World, studies: list[factory.StudySpec]) -> Path:
    root = tmp_path / "tape"
    factory.write_folder(root, studies)
    import_disc(engine, LABEL, root)
    return root


@pytest.fixture(params=["qido", "cfind"])
def protocol(
    request: pytest.FixtureRequest, orthanc: Orthanc, monkeypatch: pytest.MonkeyPatch
) -> str:
    monkeypatch.setenv("MEDIATRACK_PACS_QIDO_URL", orthanc.dicomweb_url)
    monkeypatch.setenv("MEDIATRACK_PACS_DIMSE_HOST", "127.0.0.1")
    monkeypatch.setenv("MEDIATRACK_PACS_DIMSE_PORT", str(orthanc.dicom_port))
    monkeypatch.setenv("MEDIATRACK_PACS_DIMSE_AET", orthanc.aet)
    return str(request.param)


def files_of(root: Path, study: factory.StudySpec) -> list[Path]:
    return [
        p
        for p in sorted(root.rglob("*.dcm"))
        if dcmread(p, stop_before_pixels=True).StudyInstanceUID == study.uid
    ]


def check(client: TestClient, world: World, protocol: str) -> dict[str, dict[str, object]]:
    answer = client.post(
        f"/api/v1/carriers/{LABEL}/pacs-check",
        params={"protocol": protocol},
        headers=world.auth("clerk"),
    )
    assert answer.status_code == 200, answer.text
    return {c["study_uid"]: c for c in answer.json()}


def ensure_retirable(engine: Engine) -> None:
    with session_scope(engine) as session:
        carrier = carrier_service.get_by_label(session=session, label=LABEL)
        retirement.ensure_retirable(session=session, carrier=carrier)


class TestPacsCheck:
    def test_complete_partial_absent_then_all_complete(
        self,
        client: TestClient,
        world: World,
        engine: Engine,
        orthanc: Orthanc,
        folder: Path,
        studies: list[factory.StudySpec],
        protocol: str,
        tmp_path: Path,
    ) -> None:
        complete, partial, absent = studies
        # The PACS rewrote the PatientID of the complete study on import.
        for n, path in enumerate(files_of(folder, complete)):
            ds = dcmread(path)
            ds.PatientID = "PACS9999"
            ds.save_as(tmp_path / f"c{n}.dcm")
            orthanc.upload(tmp_path / f"c{n}.dcm")
        orthanc.upload(files_of(folder, partial)[0])

        checks = check(client, world, protocol)

        assert {uid: c["status"] for uid, c in checks.items()} == {
            complete.uid: "complete",
            partial.uid: "partial",
            absent.uid: "absent",
        }
        assert checks[complete.uid]["warnings"] == [
            "The PACS files this study under another PatientID than the carrier."
        ]
        assert (
            checks[partial.uid]["carrier_instances"],
            checks[partial.uid]["pacs_instances"],
        ) == (2, 1)
        at_risk = client.get("/api/v1/preservation/at-risk", headers=world.auth("clerk")).json()
        assert [(r["label"], r["studies"]) for r in at_risk] == [
            (LABEL, {partial.uid: "partial", absent.uid: "absent"})
        ]
        with pytest.raises(ConflictError, match="only copy of 2 studies"):
            ensure_retirable(engine)

        orthanc.upload(*files_of(folder, partial)[1:], *files_of(folder, absent))
        checks = check(client, world, protocol)

        assert {c["status"] for c in checks.values()} == {"complete"}
        assert client.get("/api/v1/preservation/at-risk", headers=world.auth("clerk")).json() == []
        ensure_retirable(engine)
        safety = client.get(f"/api/v1/carriers/{LABEL}/safety", headers=world.auth("clerk")).json()
        assert {s["safe_on"] for s in safety} == {"PACS"}

    def test_unreachable_pacs_is_a_502_and_nothing_is_stored(
        self, client: TestClient, world: World, folder: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("MEDIATRACK_PACS_QIDO_URL", f"http://127.0.0.1:{free_port()}/dicom-web")
        monkeypatch.setenv("MEDIATRACK_PACS_TIMEOUT_S", "2")

        answer = client.post(
            f"/api/v1/carriers/{LABEL}/pacs-check",
            params={"protocol": "qido"},
            headers=world.auth("clerk"),
        )

        assert answer.status_code == 502
        assert "did not answer" in answer.json()["detail"]
        assert client.get("/api/v1/preservation/at-risk", headers=world.auth("clerk")).json() == []
