"""The ``mediatrack`` command on the test's own database (both kinds)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from typer.testing import CliRunner, Result

from app.cli import cli
from app.core.config import Settings
from tests.factories import PASSWORD, World, make_carrier, study_in

KEY = re.compile(r"^mtk_[0-9a-f]{12}_[A-Za-z0-9_\-]{40,}$")


@pytest.fixture
def env(db_url: str, tmp_path: Path, settings: Settings) -> dict[str, str]:
    return {
        "MEDIATRACK_DATA_DIR": str(tmp_path / "cli-data"),
        "MEDIATRACK_DATABASE_URL": db_url,
        "MEDIATRACK_SECRET_KEY": settings.SECRET_KEY,
    }


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, input=stdin)


def count(engine: Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar_one())


class TestWhere:
    def test_prints_place_holder_due_date_and_other_copies(
        self, client: TestClient, world: World, engine: Engine, env: dict[str, str]
    ) -> None:
        label = world.labels[0]
        due = date.today() + timedelta(days=9)
        r = client.post(
            f"/api/v1/carriers/{label}/checkout",
            json={"borrower_id": world.borrower_id, "purpose": "TREAT", "due_on": due.isoformat()},
            headers=world.auth("clerk"),
        )
        assert r.status_code == 200, r.text
        make_carrier(engine, "COPY0000001", study=1)  # a copy of the same study on shelf 1
        api = client.get(
            "/api/v1/where", params={"q": label}, headers=world.auth("clinician")
        ).json()

        result = run(env, "where", label)
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert lines == [
            f"DVD {label}: checked out",
            "  at City Hospital / Archive / Shelf 1",
            f"  lent to Dr Wang for TREAT, due {due.isoformat()}",
            f"  study {study_in(1).study_uid} CT",
            "  also on DVD COPY0000001 (in storage) at City Hospital / Archive / Shelf 1",
        ]
        # The same facts as the API gives for the same query.
        hit = api["hits"][0]
        assert hit["carrier"]["location"]["path"] in lines[1]
        assert hit["carrier"]["holder"]["due_on"] in lines[2]
        assert [o["label"] for o in hit["other_copies"]] == ["COPY0000001"]

    @pytest.mark.parametrize(
        "query",
        ["04:00:00:00:00:02:80", "04-00-00-00-00-02-80", "RAD0000002", "ACC00002", "ZZCANARY0002"],
    )
    def test_finds_by_every_kind(self, query: str, world: World, env: dict[str, str]) -> None:
        result = run(env, "where", query)
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines()[0] == "DVD RAD0000002: in storage"

    def test_study_uid_lists_every_carrier_holding_it(
        self, world: World, engine: Engine, env: dict[str, str]
    ) -> None:
        make_carrier(engine, "COPY0000003", study=3, store=False)
        result = run(env, "where", study_in(3).study_uid)
        assert result.exit_code == 0, result.output
        heads = [line for line in result.stdout.splitlines() if not line.startswith(" ")]
        assert heads == ["DVD COPY0000003: registered", "DVD RAD0000003: in storage"]

    def test_each_lookup_is_logged_without_the_query(
        self, world: World, engine: Engine, env: dict[str, str]
    ) -> None:
        before = count(engine, "SELECT count(*) FROM custody_event")
        assert run(env, "where", "ZZCANARY0001").exit_code == 0
        assert count(engine, "SELECT count(*) FROM custody_event") == before + 1
        with engine.connect() as conn:
            action, kind, payload = conn.execute(
                text(
                    "SELECT action, actor_kind, payload FROM custody_event "
                    "ORDER BY seq DESC LIMIT 1"
                )
            ).one()
        assert (action, kind) == ("lookup", "system")
        assert "ZZCANARY" not in payload
        assert json.loads(payload)["carriers"] == [world.labels[0]]

    def test_nothing_found_exits_1_with_a_sentence(self, world: World, env: dict[str, str]) -> None:
        result = run(env, "where", "ZZCANARY9999")
        assert result.exit_code == 1
        assert result.stdout == ""
        assert result.stderr.startswith("Nothing found for that ")
        assert result.stderr.strip().endswith(".")
        assert "ZZCANARY" not in result.stderr

    def test_a_blank_query_exits_1_with_a_sentence(
        self, world: World, engine: Engine, env: dict[str, str]
    ) -> None:
        before = count(engine, "SELECT count(*) FROM custody_event")
        result = run(env, "where", "  ")
        assert result.exit_code == 1
        assert result.stderr.startswith("Type what to look for")
        assert count(engine, "SELECT count(*) FROM custody_event") == before


class TestUserCreate:
    def test_creates_the_first_admin_on_an_empty_database(
        self, client: TestClient, engine: Engine, env: dict[str, str]
    ) -> None:
        assert count(engine, "SELECT count(*) FROM app_user") == 0
        result = run(
            env,
            "user",
            "create",
            "firstadmin",
            "--role",
            "admin",
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == "Created admin firstadmin."
        assert PASSWORD not in result.output
        assert count(engine, "SELECT count(*) FROM app_user WHERE role = 'admin'") == 1
        # The password was read from stdin and works for the API.
        r = client.post("/api/v1/auth/token", data={"username": "firstadmin", "password": PASSWORD})
        assert r.status_code == 200, r.text
        token = r.json()["access_token"]
        users = client.get("/api/v1/users", headers={"Authorization": f"Bearer {token}"})
        assert [u["username"] for u in users.json()["data"]] == ["firstadmin"]

    @pytest.mark.parametrize(
        ("args", "password", "says"),
        [
            (["bob", "--role", "admin"], "short", "password"),
            (["bob", "--role", "wizard"], PASSWORD, "role"),
            (["Bob Smith", "--role", "clerk"], PASSWORD, "username"),
        ],
    )
    def test_bad_input_exits_1_and_creates_nobody(
        self, args: list[str], password: str, says: str, engine: Engine, env: dict[str, str]
    ) -> None:
        result = run(env, "user", "create", *args, "--password-stdin", stdin=password + "\n")
        assert result.exit_code == 1
        assert result.stderr.startswith("Cannot create that user:")
        assert says in result.stderr
        assert password not in result.output
        assert count(engine, "SELECT count(*) FROM app_user") == 0

    def test_a_taken_name_exits_1(self, world: World, env: dict[str, str]) -> None:
        result = run(
            env,
            "user",
            "create",
            "clerk",
            "--role",
            "clerk",
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
        assert result.exit_code == 1
        assert result.stderr.strip() == "The user name clerk is taken."


class TestStationCreate:
    def test_prints_the_key_alone_on_the_last_line(
        self, client: TestClient, world: World, env: dict[str, str]
    ) -> None:
        result = run(env, "station", "create", "desk-9", "--location", "DESK")
        assert result.exit_code == 0, result.output
        key = result.stdout.splitlines()[-1]
        assert KEY.fullmatch(key), key
        assert key not in result.stderr
        r = client.get("/api/v1/carriers", headers={"X-API-Key": key})
        assert r.status_code == 200
        stations = client.get("/api/v1/stations", headers=world.auth("admin")).json()["data"]
        assert {s["name"]: s["location"] for s in stations}["desk-9"] == "DESK"

    def test_unknown_location_exits_1_and_creates_nothing(
        self, world: World, engine: Engine, env: dict[str, str]
    ) -> None:
        before = count(engine, "SELECT count(*) FROM station")
        result = run(env, "station", "create", "desk-9", "--location", "NOWHERE")
        assert result.exit_code == 1
        assert result.stdout == ""
        assert result.stderr.strip() == "There is no location with that code."
        assert count(engine, "SELECT count(*) FROM station") == before

    def test_revoke_then_the_key_is_refused(
        self, client: TestClient, world: World, env: dict[str, str]
    ) -> None:
        result = run(env, "station", "revoke", "desk-1")
        assert result.exit_code == 0, result.output
        assert client.get("/api/v1/carriers", headers=world.auth("station")).status_code == 401

    def test_rotate_key_prints_the_new_key_alone_and_the_old_one_still_works(
        self, client: TestClient, world: World, env: dict[str, str]
    ) -> None:
        result = run(env, "station", "rotate-key", "desk-1", "--grace-minutes", "30")
        assert result.exit_code == 0, result.output
        key = result.stdout.splitlines()[-1]
        assert KEY.fullmatch(key) and key != world.station_key
        assert "30 more minute(s)" in result.stderr and key not in result.stderr
        for either in (key, world.station_key):
            r = client.get("/api/v1/stations/me", headers={"X-API-Key": either})
            assert r.status_code == 200 and r.json()["old_key_valid_until"] is not None

    @pytest.mark.parametrize("grace", ["-1", "10081", "soon"])
    def test_rotate_key_with_a_bad_grace_exits_non_zero_and_keeps_the_key(
        self, grace: str, client: TestClient, world: World, env: dict[str, str]
    ) -> None:
        result = run(env, "station", "rotate-key", "desk-1", "--grace-minutes", grace)
        assert result.exit_code != 0 and "grace-minutes" in result.output
        r = client.get("/api/v1/stations/me", headers=world.auth("station"))
        assert r.status_code == 200 and r.json()["old_key_valid_until"] is None

    def test_installed_command_prints_the_key_alone(
        self, client: TestClient, world: World, env: dict[str, str]
    ) -> None:
        """The real entry point, as an operator runs it: stdout holds the key and only it."""
        command = Path(sys.executable).with_name("mediatrack")
        exe = str(command) if command.exists() else shutil.which("mediatrack")
        assert exe, "the mediatrack command is not installed"
        done = subprocess.run(
            [exe, "station", "create", "handheld-1", "--location", "DESK", "--kind", "handheld"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert KEY.fullmatch(done.stdout.strip()), done.stdout
        assert "handheld-1" in done.stderr
        r = client.get("/api/v1/carriers", headers={"X-API-Key": done.stdout.strip()})
        assert r.status_code == 200


class TestAuditVerify:
    def test_intact_log_exits_0_with_its_size(
        self, world: World, engine: Engine, env: dict[str, str]
    ) -> None:
        size = count(engine, "SELECT count(*) FROM custody_event")
        assert size > 0
        result = run(env, "audit", "verify")
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith(f"Custody log intact: {size} entries, head ")

    def test_checkpoint_then_verify_against_it(
        self, world: World, engine: Engine, env: dict[str, str], tmp_path: Path
    ) -> None:
        out = tmp_path / "checkpoint.json"
        result = run(env, "audit", "checkpoint", "--out", str(out))
        assert result.exit_code == 0, result.output
        signed = json.loads(out.read_text())
        assert signed["size"] == count(engine, "SELECT count(*) FROM custody_event")
        make_carrier(engine, "LATER000001")  # the log grows after the checkpoint
        result = run(env, "audit", "verify", "--checkpoint", str(out))
        assert result.exit_code == 0, result.output
        assert "matching the checkpoint" in result.stdout
        # A checkpoint vouching for more entries than the log has: truncation.
        out.write_text(json.dumps({**signed, "size": signed["size"] + 1000}))
        result = run(env, "audit", "verify", "--checkpoint", str(out))
        assert result.exit_code == 1
        assert result.stderr.startswith("Custody log NOT intact:")
        assert "None" not in result.stderr  # the signature fails: there is no bad entry to name

    def test_unreadable_checkpoint_file_exits_1(
        self, world: World, env: dict[str, str], tmp_path: Path
    ) -> None:
        bad = tmp_path / "bad.json"
        bad.write_text("not json")
        result = run(env, "audit", "verify", "--checkpoint", str(bad))
        assert result.exit_code == 1
        assert "is not a readable checkpoint file" in result.stderr


def test_fresh_embedded_database_first_admin_then_verify(tmp_path: Path) -> None:
    """No database configured: the embedded SQLite file is created and migrated on first use."""
    env = {
        "MEDIATRACK_DATA_DIR": str(tmp_path / "fresh"),
        "MEDIATRACK_DATABASE_URL": "",
        "MEDIATRACK_SECRET_KEY": "",
    }
    result = run(
        env,
        "user",
        "create",
        "root-admin",
        "--role",
        "admin",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "fresh" / "mediatrack.db").is_file()
    result = run(env, "where", "ZZCANARY0001")
    assert result.exit_code == 1
    result = run(env, "audit", "verify")
    assert result.exit_code == 0, result.output
    # The admin's creation (admin_user_created) and the lookup above.
    assert result.stdout.startswith("Custody log intact: 2 entries")
