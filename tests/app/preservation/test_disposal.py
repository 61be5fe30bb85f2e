"""Destruction: each rule that blocks it, then a witnessed destruction and its printed record."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.app.media import factory
from tests.app.media.flows import import_disc, make_disc, verify_disc
from tests.factories import World

# Dated 1980, encounter unknown: kept 30 years, so the retention ended in 2010.
OLD = "19800101"


def old_studies() -> list[factory.StudySpec]:
    studies = factory.mixed_studies()
    for study in studies:
        study.study_date = OLD
    return studies


@pytest.fixture
def archive(tmp_path: Path, engine: Engine, world: World) -> Path:
    """DSTA (to be destroyed) with a verified faithful successor DSTB."""
    a = make_disc(tmp_path / "a", old_studies(), "DSTA")
    b = tmp_path / "b"
    shutil.copytree(a, b)
    import_disc(engine, "DSTA", a)
    import_disc(engine, "DSTB", b)
    return b


def post(client: TestClient, world: World, path: str, body: dict[str, str]) -> tuple[int, str]:
    answer = client.post(f"/api/v1/carriers/{path}", json=body, headers=world.auth("admin"))
    return answer.status_code, str(answer.json().get("detail", ""))


def destroy(
    client: TestClient, world: World, witness: str = "Li Na, records officer"
) -> tuple[int, str]:
    return post(client, world, "DSTA/destroy", {"witness": witness, "method": "shredded"})


class TestDestruction:
    def test_each_rule_blocks_until_all_hold(
        self, client: TestClient, world: World, engine: Engine, archive: Path
    ) -> None:
        # Not retired yet.
        assert destroy(client, world) == (409, "DVD DSTA is in storage; retire it first.")
        # It cannot be retired either while it may hold the only copy: no successor yet...
        status, detail = post(client, world, "DSTA/retire", {"reason": "migrated"})
        assert status == 409
        assert "may hold the only copy of 3 studies" in detail
        assert post(client, world, "DSTA/migrate", {"successor": "DSTB"})[0] == 201
        # ...nor while the successor was never verified.
        assert post(client, world, "DSTA/retire", {"reason": "migrated"})[0] == 409
        assert verify_disc(engine, "DSTB", archive)
        assert post(client, world, "DSTA/retire", {"reason": "migrated"})[0] == 200

        # Legal hold.
        assert post(client, world, "DSTA/hold", {"reason": "dispute 2026-17"})[0] == 200
        status, detail = destroy(client, world)
        assert (status, "legal hold" in detail) == (409, True)
        assert post(client, world, "DSTA/release", {"reason": "settled"})[0] == 200

        # A named witness is required.
        assert destroy(client, world, witness="")[0] == 422
        assert destroy(client, world, witness="   ")[0] == 422

        status, _ = destroy(client, world)
        assert status == 201
        carrier = client.get("/api/v1/carriers/DSTA", headers=world.auth("clerk")).json()
        assert carrier["status"] == "destroyed"
        assert destroy(client, world)[0] == 409

        record = client.get("/api/v1/carriers/DSTA/destruction-record", headers=world.auth("clerk"))
        assert record.status_code == 200
        assert record.headers["content-type"].startswith("text/plain")
        text = record.text
        assert "RECORD OF DESTRUCTION" in text
        assert "Li Na, records officer" in text
        assert "2010-01-01 (ended)" in text
        assert text.count("on successor DSTB") == 3
        assert "Signature (witness)" in text
        assert all(s.patient_id not in text for s in factory.mixed_studies())

    def test_retention_not_ended(
        self, client: TestClient, world: World, engine: Engine, tmp_path: Path
    ) -> None:
        a = make_disc(tmp_path / "a", factory.mixed_studies(), "DSTA")  # dated 2023-2024
        b = tmp_path / "b"
        shutil.copytree(a, b)
        import_disc(engine, "DSTA", a)
        import_disc(engine, "DSTB", b)
        assert post(client, world, "DSTA/migrate", {"successor": "DSTB"})[0] == 201
        assert verify_disc(engine, "DSTB", b)
        assert post(client, world, "DSTA/retire", {"reason": "migrated"})[0] == 200

        assert destroy(client, world) == (
            409,
            "DVD DSTA must be kept until 2054-01-15 (retention).",
        )

    def test_no_retention_date(
        self, client: TestClient, world: World, engine: Engine, tmp_path: Path
    ) -> None:
        undated = [factory.StudySpec("PID201", [factory.SeriesSpec("CT", 1)], study_date="")]
        a, b = tmp_path / "a", tmp_path / "b"
        factory.write_folder(a, undated)
        shutil.copytree(a, b)
        import_disc(engine, "DSTA", a)
        import_disc(engine, "DSTB", b)
        assert post(client, world, "DSTA/migrate", {"successor": "DSTB"})[0] == 201
        assert verify_disc(engine, "DSTB", b)
        assert post(client, world, "DSTA/retire", {"reason": "test"})[0] == 200

        status, detail = destroy(client, world)

        assert status == 409
        assert "no retention date" in detail

    def test_only_admins_destroy(self, client: TestClient, world: World, archive: Path) -> None:
        for role in ("clerk", "auditor", "clinician"):
            answer = client.post(
                "/api/v1/carriers/DSTA/destroy", json={"witness": "X"}, headers=world.auth(role)
            )
            assert answer.status_code == 403
