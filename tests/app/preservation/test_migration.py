"""Migration A -> B: refused while B differs, accepted once it is a faithful copy; and the
retirement rule that follows from it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.carriers import service as carrier_service
from app.core.db import session_scope
from app.core.errors import ConflictError
from app.media.reading import read_medium
from app.preservation import retirement
from app.preservation.models import Succession
from tests.app.media import factory
from tests.app.media.flows import flip_byte, images, import_disc, make_disc, verify_disc
from tests.factories import World


@pytest.fixture
def copies(tmp_path: Path, engine: Engine, world: World) -> tuple[Path, Path]:
    """Carrier A imported; B a byte-for-byte copy with one file corrupted, imported too."""
    a = make_disc(tmp_path / "a", factory.mixed_studies(), "MIGA")
    b = tmp_path / "b"
    shutil.copytree(a, b)
    flip_byte(images(b)[3], at=-5)
    import_disc(engine, "MIGA", a)
    import_disc(engine, "MIGB", b)
    return a, b


def migrate(client: TestClient, world: World, **body: object) -> tuple[int, dict[str, object]]:
    answer = client.post(
        "/api/v1/carriers/MIGA/migrate",
        json={"successor": "MIGB", **body},
        headers=world.auth("admin"),
    )
    return answer.status_code, answer.json()


def ensure_retirable(engine: Engine, label: str) -> None:
    with session_scope(engine) as session:
        carrier = carrier_service.get_by_label(session=session, label=label)
        retirement.ensure_retirable(session=session, carrier=carrier)


class TestMigration:
    def test_corrupt_copy_refused_fixed_copy_accepted(
        self, client: TestClient, world: World, engine: Engine, copies: tuple[Path, Path]
    ) -> None:
        a, b = copies

        status, answer = migrate(client, world)
        assert status == 409
        assert "1 differ" in str(answer["detail"])
        assert "Nothing was linked" in str(answer["detail"])
        with Session(engine) as session:
            assert session.exec(select(Succession)).first() is None

        # Copy the file again from A, read B again: now the manifests agree.
        shutil.copyfile(images(a)[3], images(b)[3])
        import_disc(engine, "MIGB", b, store=False)
        status, answer = migrate(client, world)
        assert status == 201, answer
        assert answer["study_count"] == 3

        status, answer = migrate(client, world)
        assert status == 409
        assert "already the successor" in str(answer["detail"])

    def test_only_the_named_studies_must_match(
        self, client: TestClient, world: World, copies: tuple[Path, Path]
    ) -> None:
        a, _ = copies
        studies = sorted(s.uid for s in factory.mixed_studies())  # not the generated ones
        assert migrate(client, world, study_uids=[studies[0]])[0] == 422
        reading = read_medium(a)
        corrupted = next(
            f for f in reading.files if f.path == images(a)[3].relative_to(a).as_posix()
        )
        untouched = [
            s.study_instance_uid
            for s in reading.studies
            if s.study_instance_uid != corrupted.study_instance_uid
        ]
        status, answer = migrate(client, world, study_uids=untouched)
        assert status == 201, answer
        assert answer["study_count"] == len(untouched)

    def test_missing_instances_on_the_copy_are_refused(
        self, client: TestClient, world: World, engine: Engine, tmp_path: Path
    ) -> None:
        a = make_disc(tmp_path / "a", factory.mixed_studies(), "MIGA")
        partial = make_disc(tmp_path / "b", factory.mixed_studies()[:1], "MIGB")
        import_disc(engine, "MIGA", a)
        import_disc(engine, "MIGB", partial)

        status, answer = migrate(client, world)

        assert status == 409
        assert "missing" in str(answer["detail"])

    def test_a_carrier_is_not_its_own_successor(
        self, client: TestClient, world: World, copies: tuple[Path, Path]
    ) -> None:
        answer = client.post(
            "/api/v1/carriers/MIGA/migrate",
            json={"successor": "MIGA"},
            headers=world.auth("admin"),
        )
        assert answer.status_code == 422


class TestRetirable:
    def test_successor_counts_once_verified(
        self, client: TestClient, world: World, engine: Engine, copies: tuple[Path, Path]
    ) -> None:
        a, b = copies
        shutil.copyfile(images(a)[3], images(b)[3])
        import_disc(engine, "MIGB", b, store=False)
        assert migrate(client, world)[0] == 201

        # B was never read back after writing: not yet a verified successor.
        with pytest.raises(ConflictError, match="only copy of 3 studies"):
            ensure_retirable(engine, "MIGA")
        safety = client.get("/api/v1/carriers/MIGA/safety", headers=world.auth("clerk")).json()
        assert {s["safe_on"] for s in safety} == {None}

        assert verify_disc(engine, "MIGB", b)
        ensure_retirable(engine, "MIGA")
        safety = client.get("/api/v1/carriers/MIGA/safety", headers=world.auth("clerk")).json()
        assert {s["safe_on"] for s in safety} == {"successor MIGB"}

        # A failed re-read of B takes the protection away again.
        flip_byte(images(b)[0])
        assert not verify_disc(engine, "MIGB", b)
        with pytest.raises(ConflictError):
            ensure_retirable(engine, "MIGA")
