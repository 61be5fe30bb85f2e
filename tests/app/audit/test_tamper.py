"""Tampering behind the service's back, by raw SQL with the append-only triggers dropped:
each kind of change is caught by verify, which names the first bad entry. Every test runs
twice: the log walked in one go, and in two halves by two processes (entries 1-18 by the
second process, 19-40 here), as a long log is."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DatabaseError

from app.audit import service as audit_service
from app.audit import verifier
from app.audit.chain import ENTRY_FIELDS, chain_hash, entry_document
from app.core.db import read_only, session_scope
from app.core.principal import SYSTEM

SIZE = 40
SPLIT = 18  # where two processes cut a log of SIZE entries


@pytest.fixture(autouse=True, params=["one walk", "two processes"])
def walk(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "two processes":
        monkeypatch.setattr(verifier, "SPLIT_FROM", 1)
    return str(request.param)


@pytest.fixture
def log(engine: Engine) -> Engine:
    with session_scope(engine) as session:
        for n in range(SIZE):
            audit_service.append(
                session, principal=SYSTEM, action="seen", carrier_id=n % 5, payload={"n": n}
            )
    return engine


def verify(engine: Engine, checkpoint: audit_service.ExportedCheckpoint | None = None):  # type: ignore[no-untyped-def]
    with session_scope(read_only(engine)) as session:
        return audit_service.verify(session, checkpoint=checkpoint)


def checkpoint(engine: Engine, tmp_path) -> audit_service.ExportedCheckpoint:  # type: ignore[no-untyped-def]
    key = audit_service.load_signing_key(tmp_path / "signing.pem")
    with session_scope(engine) as session:
        return audit_service.create_checkpoint(session, key=key, origin="test")


def tamper(engine: Engine, *statements: str, params: dict[str, object] | None = None) -> None:
    with engine.begin() as conn:
        _drop_triggers(conn)
        for statement in statements:
            conn.execute(text(statement), params or {})


def _drop_triggers(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        conn.execute(text("DROP TRIGGER IF EXISTS custody_event_no_update"))
        conn.execute(text("DROP TRIGGER IF EXISTS custody_event_no_delete"))
    else:
        conn.execute(text("ALTER TABLE custody_event DISABLE TRIGGER USER"))


def rehash_from(engine: Engine, first: int) -> None:
    """What a careful forger does: recompute every hash from ``first`` on, and the head."""
    with engine.begin() as conn:
        _drop_triggers(conn)
        rows = conn.execute(text("SELECT * FROM custody_event ORDER BY seq")).mappings().all()
        prev = "00" * 32
        for row in rows:
            if row["seq"] >= first:
                fields = {k: row[k] for k in ENTRY_FIELDS}
                if isinstance(fields["recorded_at"], str):  # SQLite hands back text
                    fields["recorded_at"] = datetime.fromisoformat(fields["recorded_at"])
                doc = entry_document(**fields)
                new = chain_hash(prev, doc)
                conn.execute(
                    text("UPDATE custody_event SET prev_hash = :p, hash = :h WHERE seq = :s"),
                    {"p": prev, "h": new, "s": row["seq"]},
                )
                prev = new
            else:
                prev = row["hash"]
        conn.execute(
            text("UPDATE log_head SET seq = :s, hash = :h"), {"s": rows[-1]["seq"], "h": prev}
        )


def test_untouched_log_verifies(log: Engine) -> None:
    report = verify(log)
    assert report.ok and report.size == SIZE and report.first_bad_seq is None


@pytest.mark.parametrize("k", [1, 17, SPLIT, SPLIT + 1, SIZE])
def test_altered_entry(log: Engine, k: int) -> None:
    tamper(
        log, "UPDATE custody_event SET payload = :p WHERE seq = :k", params={"p": '{"n":9}', "k": k}
    )
    report = verify(log)
    assert (report.ok, report.first_bad_seq) == (False, k)
    assert "altered" in (report.reason or "")


@pytest.mark.parametrize("column", ["action", "actor_role", "carrier_id", "recorded_at"])
def test_altered_column(log: Engine, column: str) -> None:
    value = {"action": "'return'", "actor_role": "'admin'", "carrier_id": "77"}.get(
        column, "'2020-01-01 00:00:00'"
    )
    tamper(log, f"UPDATE custody_event SET {column} = {value} WHERE seq = 9")
    assert verify(log).first_bad_seq == 9


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("payload = 'not json at all'", "its payload is not JSON"),
        ("payload = '{\"n\": 1.5}'", "floating-point"),
        ("recorded_at = 'garbage'", "its time is not a time"),
        # SQLite keeps whatever type is written into any column.
        ("recorded_at = 20261206", "its time is not a time"),
        ("recorded_at = X'00ff'", "its time is not a time"),
        ("payload = 42", "was altered"),  # TEXT affinity: stored as the JSON text '42'
        ("payload = X'00ff'", "its payload is not JSON"),
        ("action = 7", "was altered"),
    ],
)
def test_an_unreadable_entry_is_named_not_a_crash(log: Engine, change: str, reason: str) -> None:
    """Whatever an attacker writes into a row, the verifier names that row."""
    if log.dialect.name != "sqlite" and ("recorded_at" in change or "X'" in change
                                         or change.endswith(("= 42", "= 7"))):
        pytest.skip("PostgreSQL's typed columns cannot hold a value of another type")
    tamper(log, f"UPDATE custody_event SET {change} WHERE seq = 12")
    report = verify(log)
    assert (report.ok, report.first_bad_seq) == (False, 12)
    assert reason in (report.reason or "")


@pytest.mark.parametrize("k", [1, SPLIT, SPLIT + 1, 20, SIZE - 1])
def test_deleted_entry(log: Engine, k: int) -> None:
    tamper(log, "DELETE FROM custody_event WHERE seq = :k", params={"k": k})
    report = verify(log)
    assert (report.ok, report.first_bad_seq) == (False, k)
    assert "missing" in (report.reason or "")


def test_inserted_entry(log: Engine) -> None:
    """A forged entry slipped in at 12 (later entries renumbered) with a valid-looking hash
    for its own position: the entry after it no longer follows."""
    tamper(
        log,
        "UPDATE custody_event SET seq = seq + 1000 WHERE seq >= 12",
        "UPDATE custody_event SET seq = seq - 999 WHERE seq >= 1012",
        "INSERT INTO custody_event (seq, recorded_at, action, actor_kind, actor_id, actor_role,"
        " station_id, carrier_id, location_id, payload, prev_hash, hash)"
        " SELECT 12, recorded_at, 'return', actor_kind, actor_id, actor_role, station_id,"
        " carrier_id, location_id, payload, hash, hash FROM custody_event WHERE seq = 11",
    )
    report = verify(log)
    assert not report.ok
    assert report.first_bad_seq == 12


def test_reordered_entries(log: Engine) -> None:
    tamper(
        log,
        "UPDATE custody_event SET seq = 1000 WHERE seq = 20",
        "UPDATE custody_event SET seq = 20 WHERE seq = 21",
        "UPDATE custody_event SET seq = 21 WHERE seq = 1000",
    )
    report = verify(log)
    assert (report.ok, report.first_bad_seq) == (False, 20)


def test_truncated_tail_caught_by_head(log: Engine) -> None:
    tamper(log, "DELETE FROM custody_event WHERE seq > 30")
    report = verify(log)
    assert (report.ok, report.first_bad_seq) == (False, 31)


def test_truncated_tail_with_head_rewritten_caught_by_checkpoint(log: Engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    exported = checkpoint(log, tmp_path)
    tamper(log, "DELETE FROM custody_event WHERE seq > 30")
    rehash_from(log, 31)  # fixes the head to the new end: the chain alone now looks fine
    assert verify(log).ok
    report = verify(log, exported)
    assert (report.ok, report.first_bad_seq) == (False, 31)
    assert (report.reason or "").startswith(f"missing events 31..{SIZE}: ")
    assert "truncated" in (report.reason or "")


def test_full_rewrite_caught_by_checkpoint(log: Engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    exported = checkpoint(log, tmp_path)
    tamper(log, "UPDATE custody_event SET payload = :p WHERE seq = 5", params={"p": '{"n":-1}'})
    rehash_from(log, 1)
    assert verify(log).ok  # a consistent forgery: only an outside commitment can catch it
    report = verify(log, exported)
    assert not report.ok
    assert "rewritten" in (report.reason or "")


def test_checkpoint_with_bad_signature_is_refused(log: Engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    exported = checkpoint(log, tmp_path)
    forged = audit_service.ExportedCheckpoint(**{**exported.__dict__, "size": exported.size - 5})
    report = verify(log, forged)
    assert not report.ok and "signature" in (report.reason or "")


def test_later_appends_still_match_checkpoint(log: Engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    exported = checkpoint(log, tmp_path)
    with session_scope(log) as session:
        audit_service.append(session, principal=SYSTEM, action="seen", payload={"n": 1})
    assert verify(log, exported).ok


def test_the_log_is_cut_where_the_tests_expect(log: Engine, walk: str) -> None:
    with session_scope(log) as session:
        split = verifier._split_point(session)
    assert split == (SPLIT if walk == "two processes" else None)


def test_a_failed_second_process_changes_nothing_but_the_time(
    log: Engine, walk: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The second process cannot start its work (here: a program that exits at once): this
    process walks its half too, and the answer is the same."""
    monkeypatch.setattr(verifier.sys, "executable", "false")
    tamper(log, "UPDATE custody_event SET payload = '{}' WHERE seq = 3")
    report = verify(log)
    assert (report.ok, report.first_bad_seq) == (False, 3)
    assert ("second process failed" in caplog.text) == (walk == "two processes")


class TestTriggers:
    @pytest.mark.parametrize(
        "statement",
        [
            "UPDATE custody_event SET action = 'x' WHERE seq = 3",
            "DELETE FROM custody_event WHERE seq = 3",
        ],
    )
    def test_update_and_delete_refused(self, log: Engine, statement: str) -> None:
        with pytest.raises(DatabaseError, match="append-only"), log.begin() as conn:
            conn.execute(text(statement))
        assert verify(log).ok

    def test_truncate_refused(self, log: Engine) -> None:
        # SQLite has no TRUNCATE; its equivalent is an unqualified DELETE (which its
        # truncate optimisation must not let past the trigger).
        statement = (
            "TRUNCATE custody_event"
            if log.dialect.name == "postgresql"
            else ("DELETE FROM custody_event")
        )
        with pytest.raises(DatabaseError, match="append-only"), log.begin() as conn:
            conn.execute(text(statement))
        assert verify(log).size == SIZE
