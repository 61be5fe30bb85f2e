"""The verification-due list, and the export of a carrier's history (PREMIS, DICOM/ATNA)."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.app.media import factory
from tests.app.media.flows import import_disc, make_disc, verify_disc
from tests.factories import World

LABEL = "REC0001"


@pytest.fixture
def disc(tmp_path: Path, engine: Engine, world: World) -> Path:
    root = make_disc(tmp_path / "disc", factory.mixed_studies(), LABEL)
    import_disc(engine, LABEL, root)
    return root


def lend_and_return(client: TestClient, world: World) -> None:
    auth = world.auth("clerk")
    out = client.post(
        f"/api/v1/carriers/{LABEL}/checkout",
        json={"borrower_id": world.borrower_id, "purpose": "TREAT"},
        headers=auth,
    )
    assert out.status_code == 200, out.text
    back = client.post(
        f"/api/v1/carriers/{LABEL}/return", json={"location": "SHELF1"}, headers=auth
    )
    assert back.status_code == 200, back.text


def code_of(element: ET.Element, path: str) -> str | None:
    found = element.find(path)
    assert found is not None, path
    return found.get("csd-code")


def due(client: TestClient, world: World) -> dict[str, list[str]]:
    answer = client.get("/api/v1/preservation/verification-due", headers=world.auth("clerk"))
    assert answer.status_code == 200
    return {d["label"]: d["reasons"] for d in answer.json()}


class TestVerificationDue:
    def test_after_intake_verify_and_return(
        self, client: TestClient, world: World, engine: Engine, disc: Path
    ) -> None:
        # Only carriers with a manifest are listed; the world's others have none.
        assert due(client, world) == {LABEL: ["never verified since it was written or imported"]}

        assert verify_disc(engine, LABEL, disc)
        assert due(client, world) == {}

        lend_and_return(client, world)
        assert due(client, world) == {
            LABEL: ["returned from loan or transfer since its last verification"]
        }
        assert verify_disc(engine, LABEL, disc)
        assert due(client, world) == {}

    def test_nothing_at_risk_without_pacs_answers(
        self, client: TestClient, world: World, disc: Path
    ) -> None:
        answer = client.get("/api/v1/preservation/at-risk", headers=world.auth("clerk"))
        assert (answer.status_code, answer.json()) == (200, [])

    def test_pacs_check_without_a_configured_pacs(
        self, client: TestClient, world: World, disc: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        for name in ("QIDO_URL", "DIMSE_HOST", "DIMSE_AET"):
            monkeypatch.delenv(f"MEDIATRACK_PACS_{name}", raising=False)
        answer = client.post(f"/api/v1/carriers/{LABEL}/pacs-check", headers=world.auth("clerk"))
        assert answer.status_code == 409
        assert "No PACS is configured" in answer.json()["detail"]


class TestExport:
    def test_premis_events(
        self, client: TestClient, world: World, engine: Engine, disc: Path
    ) -> None:
        verify_disc(engine, LABEL, disc)
        lend_and_return(client, world)

        answer = client.get(
            f"/api/v1/carriers/{LABEL}/history/premis", headers=world.auth("auditor")
        )

        assert answer.status_code == 200
        history = answer.json()
        assert history["object"]["objectIdentifier"][0]["objectIdentifierValue"] == LABEL
        types = [e["eventType"] for e in history["events"]]
        assert types[:2] == ["accession", "metadata modification"]
        assert "message digest calculation" in types
        assert "fixity check" in types
        assert types.count("local:custody transfer") == 3  # store, check out, return
        seqs = [int(e["eventIdentifier"]["eventIdentifierValue"]) for e in history["events"]]
        assert seqs == sorted(seqs)
        assert all(len(e["eventHash"]) == 64 for e in history["events"])

    def test_atna_import_and_export(self, client: TestClient, world: World, disc: Path) -> None:
        lend_and_return(client, world)

        answer = client.get(f"/api/v1/carriers/{LABEL}/history/atna", headers=world.auth("auditor"))

        assert answer.status_code == 200
        messages = [ET.fromstring(m) for m in answer.json()["messages"]]
        assert len(messages) == 2  # intake (import) and check-out (export)
        imported, exported = messages
        assert code_of(imported, "EventIdentification/EventID") == "110107"
        assert code_of(exported, "EventIdentification/EventID") == "110106"
        roles = [code_of(p, "RoleIDCode") for p in imported.findall("ActiveParticipant")]
        assert "110155" in roles
        media = exported.findall("ActiveParticipant")[1]
        assert media.get("UserID") == f"DVD {LABEL}"
        assert code_of(media, "RoleIDCode") == "110154"
        assert code_of(media, "MediaIdentifier/MediaType") == "110033"
        objects = imported.findall("ParticipantObjectIdentification")
        studies = [o for o in objects if o.get("ParticipantObjectTypeCode") == "2"]
        patients = [o for o in objects if o.get("ParticipantObjectTypeCode") == "1"]
        assert len(studies) == 3
        assert len(patients) == 2

    @pytest.mark.parametrize("kind", ["premis", "atna"])
    def test_auditors_only(self, client: TestClient, world: World, disc: Path, kind: str) -> None:
        for role in ("clerk", "admin", "clinician"):
            answer = client.get(
                f"/api/v1/carriers/{LABEL}/history/{kind}", headers=world.auth(role)
            )
            assert answer.status_code == 403
