"""Intake and fixity through the API and the command line, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from app.audit.models import CustodyEvent
from app.cli import cli
from app.core.config import Settings
from app.media.models import FixityCheck, ManifestEntry, MediaIntake
from app.media.reading import read_medium
from tests.app.media import factory
from tests.app.media.flows import flip_byte, images, make_disc
from tests.factories import World

LABEL = "RAD0000901"


@pytest.fixture
def disc(tmp_path: Path) -> Path:
    return make_disc(tmp_path / "disc", factory.mixed_studies(), LABEL)


def body(root: Path, label: str = LABEL, **extra: Any) -> dict[str, Any]:
    return {**read_medium(root, label=label).to_json(), **extra}


def events(engine: Engine, action: str) -> list[dict[str, Any]]:
    with Session(engine) as session:
        rows = session.exec(select(CustodyEvent).where(CustodyEvent.action == action)).all()
        return [json.loads(r.payload) for r in rows]


class TestIntakeApi:
    def test_new_label_is_registered_and_recorded(
        self, client: TestClient, world: World, engine: Engine, disc: Path
    ) -> None:
        answer = client.post(
            f"/api/v1/carriers/{LABEL}/intake",
            json=body(disc, kind="DVD", home_location="SHELF1"),
            headers=world.auth("clerk"),
        )

        assert answer.status_code == 201, answer.text
        intake = answer.json()
        assert (intake["instance_count"], intake["file_count"]) == (12, 13)
        assert intake["fileset_id"] == LABEL
        # Unknown encounter: 30 years from the latest study date (2024-01-15).
        assert intake["retention_until"] == "2054-01-15"
        carrier = client.get(f"/api/v1/carriers/{LABEL}", headers=world.auth("clerk")).json()
        assert carrier["status"] == "registered"
        manifest = client.get(
            f"/api/v1/carriers/{LABEL}/manifest", headers=world.auth("clerk")
        ).json()
        assert manifest["count"] == len(manifest["data"]) == 13
        page = client.get(
            f"/api/v1/carriers/{LABEL}/manifest",
            params={"offset": 10, "limit": 5},
            headers=world.auth("clerk"),
        ).json()
        assert (page["count"], [m["path"] for m in page["data"]]) == (
            13,
            [m["path"] for m in manifest["data"][10:]],
        )
        [event] = events(engine, "intake")
        assert event["premis_event_type"] == "message digest calculation"
        assert event["manifest_sha256"] == intake["manifest_sha256"]
        spec = factory.mixed_studies()[0]
        assert "patient" not in json.dumps(event).lower() or spec.patient_id not in json.dumps(
            event
        )

    def test_reimport_replaces_the_manifest(
        self, client: TestClient, world: World, engine: Engine, disc: Path
    ) -> None:
        auth = world.auth("clerk")
        first = body(disc, kind="DVD", home_location="SHELF1")
        assert client.post(f"/api/v1/carriers/{LABEL}/intake", json=first, headers=auth).is_success
        flip_byte(images(disc)[0])

        assert client.post(
            f"/api/v1/carriers/{LABEL}/intake", json=body(disc), headers=auth
        ).is_success

        with Session(engine) as session:
            assert len(session.exec(select(ManifestEntry)).all()) == 13
            assert len(session.exec(select(MediaIntake)).all()) == 2

    def test_medium_with_errors_is_refused_and_nothing_written(
        self, client: TestClient, world: World, engine: Engine, disc: Path
    ) -> None:
        images(disc)[0].unlink()

        answer = client.post(
            f"/api/v1/carriers/{LABEL}/intake",
            json=body(disc, kind="DVD", home_location="SHELF1"),
            headers=world.auth("clerk"),
        )

        assert answer.status_code == 422
        assert "1 record without file" in answer.json()["detail"]
        assert (
            client.get(f"/api/v1/carriers/{LABEL}", headers=world.auth("clerk")).status_code == 404
        )
        with Session(engine) as session:
            assert session.exec(select(ManifestEntry)).first() is None

        accepted = client.post(
            f"/api/v1/carriers/{LABEL}/intake",
            json=body(disc, kind="DVD", home_location="SHELF1", accept_problems=True),
            headers=world.auth("clerk"),
        )
        assert accepted.status_code == 201
        assert accepted.json()["problem_count"] == 1

    @pytest.mark.parametrize(
        ("label", "change", "status"),
        [
            ("bad label", {}, 422),
            ("RAD0000902", {"file_count": 99}, 422),
            ("RAD0000902", {}, 404),  # unregistered, no kind given
            ("RAD0000902", {"kind": "FLOPPY", "home_location": "SHELF1"}, 422),
            ("RAD0000902", {"kind": "DVD", "home_location": "NOWHERE"}, 404),
        ],
    )
    def test_bad_input(
        self,
        client: TestClient,
        world: World,
        disc: Path,
        label: str,
        change: dict[str, Any],
        status: int,
    ) -> None:
        answer = client.post(
            f"/api/v1/carriers/{label}/intake",
            json=body(disc, label=label.replace(" ", "_")[:16], **change),
            headers=world.auth("clerk"),
        )

        assert answer.status_code == status, answer.text
        assert set(answer.json()) == {"error", "detail"}


class TestVerifyApi:
    def test_match_then_changed_missing_extra(
        self, client: TestClient, world: World, engine: Engine, disc: Path
    ) -> None:
        auth = world.auth("clerk")
        client.post(
            f"/api/v1/carriers/{LABEL}/intake",
            json=body(disc, kind="DVD", home_location="SHELF1"),
            headers=auth,
        ).raise_for_status()

        ok = client.post(f"/api/v1/carriers/{LABEL}/verify", json=body(disc), headers=auth)
        assert ok.status_code == 200
        assert ok.json()["ok"] is True

        victims = images(disc)
        flip_byte(victims[0])
        victims[1].unlink()
        (disc / "EXTRA.TXT").write_text("added")
        bad = client.post(f"/api/v1/carriers/{LABEL}/verify", json=body(disc), headers=auth).json()

        assert bad["ok"] is False
        assert bad["changed"] == [victims[0].relative_to(disc).as_posix()]
        assert bad["missing"] == [victims[1].relative_to(disc).as_posix()]
        assert bad["extra"] == ["EXTRA.TXT"]
        outcomes = [e["outcome"] for e in events(engine, "verify")]
        assert outcomes == ["success", "failure"]
        assert all(e["premis_event_type"] == "fixity check" for e in events(engine, "verify"))
        with Session(engine) as session:
            assert [c.ok for c in session.exec(select(FixityCheck)).all()] == [True, False]

    def test_without_manifest_is_a_conflict(
        self, client: TestClient, world: World, disc: Path
    ) -> None:
        label = world.labels[0]
        answer = client.post(
            f"/api/v1/carriers/{label}/verify",
            json=body(disc, label=label),
            headers=world.auth("clerk"),
        )

        assert answer.status_code == 409
        assert "import it first" in answer.json()["detail"]


class TestCommandLine:
    @pytest.fixture
    def env(self, monkeypatch: pytest.MonkeyPatch, settings: Settings, world: World) -> None:
        monkeypatch.setenv("MEDIATRACK_DATABASE_URL", settings.database_url)
        monkeypatch.setenv("MEDIATRACK_SECRET_KEY", settings.secret_key)
        monkeypatch.setenv("MEDIATRACK_DATA_DIR", str(settings.DATA_DIR))

    def test_import_then_verify(self, env: None, disc: Path) -> None:
        runner = CliRunner()
        imported = runner.invoke(
            cli,
            [
                "import-media",
                str(disc),
                "--carrier",
                LABEL,
                "--kind",
                "DVD",
                "--location",
                "SHELF1",
                "--json",
            ],
        )
        assert imported.exit_code == 0, imported.output
        report = json.loads(imported.stdout)
        assert report["carrier"]["label"] == LABEL
        assert report["instance_count"] == 12
        assert len(report["studies"]) == 3

        verified = runner.invoke(cli, ["verify", str(disc), "--carrier", LABEL, "--quiet"])
        assert verified.exit_code == 0, verified.output
        assert "All 13 files match" in verified.stdout

        flip_byte(images(disc)[2])
        failed = runner.invoke(cli, ["verify", str(disc), "--carrier", LABEL, "--quiet"])
        assert failed.exit_code == 1
        assert "1 changed" in failed.output

    def test_bad_label_and_missing_path_exit_non_zero(self, env: None, disc: Path) -> None:
        runner = CliRunner()
        bad = runner.invoke(cli, ["import-media", str(disc), "--carrier", "bad label"])
        assert bad.exit_code == 1
        assert "carrier label is 1 to 16" in bad.output
        nowhere = runner.invoke(cli, ["verify", str(disc / "nowhere"), "--carrier", LABEL])
        assert nowhere.exit_code == 1
        assert "not a folder" in nowhere.output

    def test_human_report_has_no_patient_id(self, env: None, disc: Path) -> None:
        result = CliRunner().invoke(
            cli,
            [
                "import-media",
                str(disc),
                "--carrier",
                LABEL,
                "--kind",
                "DVD",
                "--location",
                "SHELF1",
                "--quiet",
            ],
        )
        assert result.exit_code == 0, result.output
        assert "PID001" not in result.output
        assert "Recorded RAD0000901" in result.output
