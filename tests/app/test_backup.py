"""``mediatrack backup`` and ``mediatrack restore``, run for real on both databases: a backup
taken while another thread writes restores to the rows of one moment, with a chain that
verifies; a backup older than a checkpoint is caught as missing events."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner, Result

import app
from app.cli import cli
from app.core.config import Settings
from tests.factories import World, make_carrier
from tests.support.wait import wait_for


@pytest.fixture
def env(db_url: str, tmp_path: Path, settings: Settings) -> dict[str, str]:
    return {
        "MEDIATRACK_DATA_DIR": str(tmp_path / "cli-data"),
        "MEDIATRACK_DATABASE_URL": db_url,
        "MEDIATRACK_SECRET_KEY": settings.SECRET_KEY,
    }


@pytest.fixture
def restored_env(env: dict[str, str], empty_db_url: str) -> dict[str, str]:
    """The same settings (the checkpoint key included) on a new, empty database."""
    return {**env, "MEDIATRACK_DATABASE_URL": empty_db_url}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Where backups go, holding nothing else (so a leftover would show)."""
    made = tmp_path / "backups"
    made.mkdir()
    return made


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env)


def said(result: Result) -> str:
    """The command's last line on stderr: its error, after any progress."""
    return result.stderr.strip().splitlines()[-1]


def count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows in primary-key order."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            found = inspect(conn)
            tables: dict[str, list[tuple[Any, ...]]] = {}
            for table in found.get_table_names():
                key = found.get_pk_constraint(table)["constrained_columns"]
                order = f" ORDER BY {', '.join(key)}" if key else ""
                result = conn.execute(text(f"SELECT * FROM {table}{order}"))
                tables[table] = [tuple(row) for row in result]
            return tables
    finally:
        engine.dispose()


def scalars(url: str, *queries: str) -> list[list[Any]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [list(conn.execute(text(query)).scalars()) for query in queries]
    finally:
        engine.dispose()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


class Writer:
    """Registers carriers one transaction after another in a thread, as a busy desk does."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.written = 0
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                make_carrier(self.engine, f"LIVE{self.written:07d}")
                self.written += 1
        except BaseException as exc:  # the test asserts there was none
            self.errors.append(exc)


# The command in a process of its own, as an operator (or a timer) runs it, on this checkout's
# code (the installed script may belong to another checkout).
MEDIATRACK = [sys.executable, "-c", "from app.cli import main; main()"]
CHECKOUT = Path(app.__file__).parent.parent


def test_backup_while_writing_restores_one_moment_and_verifies(
    world: World, engine: Engine, env: dict[str, str], restored_env: dict[str, str],
    db_url: str, empty_db_url: str, folder: Path,
) -> None:
    checkpoint = folder / "checkpoint.json"
    assert run(env, "audit", "checkpoint", "--out", str(checkpoint)).exit_code == 0
    out = folder / "nightly.backup"
    with Writer(engine) as writer:
        wait_for(lambda: writer.written >= 3, timeout=60, what="the writer's first carriers")
        events_before = count(engine, "custody_event")
        done = subprocess.run(
            [*MEDIATRACK, "backup", "--out", str(out)], cwd=CHECKOUT,
            env={**os.environ, **env}, capture_output=True, text=True, timeout=300, check=False,
        )
        written_by_then = writer.written
        # The writer goes on after the copy: the copy is of a moment, not of the end.
        wait_for(lambda: writer.written > written_by_then, timeout=60, what="a later write")
    assert writer.errors == []
    assert done.returncode == 0, done.stderr
    assert mode(out) == 0o600
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoint.json", "nightly.backup"]
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith(f"Backup written to {out}: ")
    backed_up = int(last.split(": ")[1].split(" custody events")[0])
    assert events_before <= backed_up < count(engine, "custody_event")

    result = run(restored_env, "restore", str(out), "--checkpoint", str(checkpoint))
    assert result.exit_code == 0, result.output
    assert f"Restored {out}: {backed_up} custody events, " in result.stdout
    assert "matching the checkpoint of" in result.stdout

    source, restored = rows(db_url), rows(empty_db_url)
    assert set(restored) == set(source)
    assert len(restored["custody_event"]) == backed_up
    # The log of that moment: a prefix of the source's, its head at its last entry.
    assert restored["custody_event"] == source["custody_event"][:backed_up]
    for table in set(restored) - {"custody_event", "log_head"}:
        assert set(restored[table]) <= set(source[table]), table
    assert restored["carrier"] != source["carrier"]  # the later carriers are not there
    head, carriers, logged = scalars(
        empty_db_url,
        "SELECT seq || ' ' || hash FROM log_head",
        "SELECT id FROM carrier",
        "SELECT DISTINCT carrier_id FROM custody_event WHERE carrier_id IS NOT NULL",
    )
    last = scalars(empty_db_url, f"SELECT hash FROM custody_event WHERE seq = {backed_up}")[0]
    assert head == [f"{backed_up} {last[0]}"]
    # Each carrier came with its events and no event lacks its carrier: not half a write.
    assert set(carriers) == set(logged)


def test_backup_older_than_checkpoint_reports_missing_events(
    world: World, engine: Engine, env: dict[str, str], restored_env: dict[str, str],
    folder: Path,
) -> None:
    out = folder / "old.backup"
    assert run(env, "backup", "--out", str(out)).exit_code == 0
    backed_up = count(engine, "custody_event")
    make_carrier(engine, "AFTER000001")
    make_carrier(engine, "AFTER000002")
    checkpoint = folder / "checkpoint.json"
    assert run(env, "audit", "checkpoint", "--out", str(checkpoint)).exit_code == 0
    vouched = json.loads(checkpoint.read_text())["size"]
    assert vouched == count(engine, "custody_event") > backed_up

    result = run(restored_env, "restore", str(out), "--checkpoint", str(checkpoint))
    assert result.exit_code == 1
    assert f"Restored {out}: {backed_up} custody events" in result.stdout
    missing = f"missing events {backed_up + 1}..{vouched}: "
    assert said(result).startswith(f"Custody log NOT intact: {missing}")
    # The drill as two commands says the same.
    result = run(restored_env, "audit", "verify", "--checkpoint", str(checkpoint))
    assert result.exit_code == 1
    assert said(result).startswith(f"Custody log NOT intact: {missing}")
    assert "older backup" in result.stderr


def test_restore_refuses_a_database_that_holds_records_unless_forced(
    world: World, engine: Engine, env: dict[str, str], folder: Path
) -> None:
    out = folder / "b.backup"
    assert run(env, "backup", "--out", str(out)).exit_code == 0
    carriers, events = count(engine, "carrier"), count(engine, "custody_event")
    make_carrier(engine, "AFTER000001")
    events_now = count(engine, "custody_event")
    engine.dispose()  # a restore replaces the database under any open connection

    result = run(env, "restore", str(out))
    assert result.exit_code == 1
    assert said(result).startswith(
        f"The configured database already holds {events_now} custody events and "
        f"{carriers + 1} carriers; nothing was restored."
    )
    assert (count(engine, "carrier"), count(engine, "custody_event")) == (carriers + 1, events_now)

    result = run(env, "restore", str(out), "--force")
    assert result.exit_code == 0, result.output
    assert (count(engine, "carrier"), count(engine, "custody_event")) == (carriers, events)
    assert run(env, "audit", "verify").exit_code == 0


def test_backup_is_mode_0600_whatever_the_umask(
    world: World, env: dict[str, str], folder: Path
) -> None:
    out = folder / "b.backup"
    previous = os.umask(0)
    try:
        result = run(env, "backup", "--out", str(out))
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    assert mode(out) == 0o600


class TestFailedBackup:
    """A backup that fails says why in a sentence, exits 1 and leaves no file."""

    def test_folder_that_does_not_exist(
        self, world: World, env: dict[str, str], folder: Path
    ) -> None:
        out = folder / "not-there" / "b.backup"
        result = run(env, "backup", "--out", str(out))
        assert result.exit_code == 1
        assert said(result).startswith(f"Cannot write a backup in {out.parent} (")
        assert said(result).endswith("no backup was written.")
        assert list(folder.iterdir()) == []

    def test_source_that_fails_midway(
        self, env: dict[str, str], db_url: str, folder: Path, tmp_path: Path
    ) -> None:
        """SQLite: the file is no database. PostgreSQL: a database that is not there."""
        if make_url(db_url).get_backend_name() == "sqlite":
            broken = tmp_path / "broken.db"
            broken.write_bytes(b"this is not a database" * 300)
            url = f"sqlite:///{broken}"
            reason = "file is not a database"
        else:
            url = make_url(db_url).set(database="mt_no_such_database").render_as_string(False)
            reason = 'database "mt_no_such_database" does not exist'
        result = run({**env, "MEDIATRACK_DATABASE_URL": url}, "backup", "--out", f"{folder}/b")
        assert result.exit_code == 1
        assert said(result).startswith("The backup failed (")
        assert reason in result.stderr
        assert said(result).endswith("no backup was written.")
        assert list(folder.iterdir()) == []

    @pytest.mark.postgres
    @pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
    def test_pg_dump_that_fails_after_writing(
        self, world: World, env: dict[str, str], folder: Path, tmp_path: Path
    ) -> None:
        tools = tmp_path / "bin"
        tools.mkdir()
        fake = tools / "pg_dump"
        # A dump cut off by a lost connection: some bytes written, then an error, then a
        # detail that quotes a row (the reason must not repeat it).
        fake.write_text(
            "#!/bin/sh\nprintf 'PGDMP partial'\n"
            "echo 'pg_dump: error: query failed: server closed the connection unexpectedly' >&2\n"
            "echo 'DETAIL:  Key (patient_id)=(ZZCANARY0001) is what it was reading.' >&2\n"
            "exit 1\n"
        )
        fake.chmod(0o755)
        result = run({**env, "PATH": str(tools)}, "backup", "--out", str(folder / "b.dump"))
        assert result.exit_code == 1
        assert said(result).startswith(
            "pg_dump failed (query failed: server closed the connection unexpectedly); "
            "no backup was written."
        )
        assert "ZZCANARY" not in result.output
        assert list(folder.iterdir()) == []

    @pytest.mark.postgres
    @pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
    def test_pg_dump_missing(
        self, world: World, env: dict[str, str], folder: Path, tmp_path: Path
    ) -> None:
        result = run({**env, "PATH": str(tmp_path)}, "backup", "--out", str(folder / "b.dump"))
        assert result.exit_code == 1
        assert said(result).startswith("pg_dump was not found on PATH;")
        assert list(folder.iterdir()) == []


def test_restore_of_a_file_that_is_no_backup(
    env: dict[str, str], restored_env: dict[str, str], folder: Path
) -> None:
    junk = folder / "notes.txt"
    junk.write_text("shopping list\n")
    result = run(restored_env, "restore", str(junk))
    assert result.exit_code == 1
    assert said(result).startswith(f"{junk} is neither a SQLite backup nor a pg_dump")

