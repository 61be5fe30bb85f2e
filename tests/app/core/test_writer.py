"""Group commit (app.core.writer) on both databases: pieces share a transaction and a commit,
run in order, fail alone, and are never answered before their group's commit."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine, event, text
from sqlmodel import Session

from app.audit import service as audit_service
from app.core.announce import Listener, announce, hub_for
from app.core.db import make_engine, read_only, session_scope
from app.core.principal import SYSTEM
from app.core.writer import GroupWriter
from tests.support.wait import wait_for

T = TypeVar("T")

def run_alone(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` in a thread of its own: once a browser test has run, Playwright's sync API
    keeps an event loop running in the main thread for the rest of the session."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture
def writer_engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def writer(writer_engine: Engine) -> Iterator[GroupWriter]:
    group_writer = GroupWriter(writer_engine)
    yield group_writer
    group_writer.stop()


def add_borrower(name: str) -> Callable[[Session], str]:
    def work(session: Session) -> str:
        session.execute(
            text("INSERT INTO borrower (name, kind, active) VALUES (:name, 'staff', true)"),
            {"name": name},
        )
        return name

    return work


def held(running: threading.Event, release: threading.Event) -> Callable[[Session], None]:
    """A piece that holds the writer until released: what is queued meanwhile is one group."""

    def blocker(session: Session) -> None:
        running.set()
        release.wait(10)

    return blocker


def joint(calls: list[list[str]]) -> Callable[[Session, list[str]], list[str]]:
    """Work submitted together: adds a borrower for each word in one call, and fails after
    writing them all when one word is "bad" (so a failed call's writes must be undone)."""

    def together(session: Session, words: list[str]) -> list[str]:
        calls.append(list(words))
        done = [add_borrower(word)(session) for word in words]
        if "bad" in words:
            raise ValueError("bad")
        return done

    return together


def names(engine: Engine) -> list[str]:
    with read_only(engine).connect() as conn:  # does not wait for the writer
        return [r[0] for r in conn.execute(text("SELECT name FROM borrower ORDER BY id"))]


def test_queued_pieces_share_one_commit_in_their_order(
    writer: GroupWriter, writer_engine: Engine
) -> None:
    running, release = threading.Event(), threading.Event()

    def first(session: Session) -> str:
        add_borrower("first")(session)
        running.set()
        release.wait(10)
        return "first"

    answers = [writer.submit(first)]
    wait_for(running.is_set, what="the first group to run")
    # While the first group runs, the next pieces queue up and form the second group.
    answers += [writer.submit(add_borrower(f"b{i}")) for i in range(5)]
    release.set()
    assert [a.result(10) for a in answers] == ["first", "b0", "b1", "b2", "b3", "b4"]
    assert writer.groups == 2
    assert names(writer_engine) == ["first", "b0", "b1", "b2", "b3", "b4"]


def test_no_piece_is_answered_before_its_group_commits(
    writer: GroupWriter, writer_engine: Engine
) -> None:
    committing, release = threading.Event(), threading.Event()

    @event.listens_for(writer_engine, "commit")
    def hold(_conn: object) -> None:  # runs just before the database commits
        committing.set()
        release.wait(10)

    answers = [writer.submit(add_borrower(f"b{i}")) for i in range(3)]
    wait_for(committing.is_set, what="the group to reach its commit")
    assert not any(a.done() for a in answers)
    assert names(writer_engine) == []  # nothing visible outside before the commit
    release.set()
    assert [a.result(10) for a in answers] == ["b0", "b1", "b2"]
    assert names(writer_engine) == ["b0", "b1", "b2"]


def test_a_failing_piece_is_rolled_back_alone(writer: GroupWriter, writer_engine: Engine) -> None:
    release = threading.Event()

    def blocker(session: Session) -> None:
        release.wait(10)

    def failing(session: Session) -> None:
        add_borrower("half-written")(session)
        raise ValueError("refused")

    writer.submit(blocker)
    answers = [
        writer.submit(add_borrower("before")),
        writer.submit(failing),
        writer.submit(add_borrower("after")),
    ]
    release.set()
    assert answers[0].result(10) == "before" and answers[2].result(10) == "after"
    with pytest.raises(ValueError, match="refused"):
        answers[1].result(10)
    assert names(writer_engine) == ["before", "after"]


def test_a_failed_pieces_log_entries_leave_no_gap_in_the_chain(
    writer: GroupWriter, writer_engine: Engine
) -> None:
    """Each piece chains after the log head its own savepoint sees: an entry rolled back with
    its piece is not what the next piece's entry points at."""
    running, release = threading.Event(), threading.Event()

    def blocker(session: Session) -> None:
        running.set()
        release.wait(10)

    def logs(action: str, *, fail: bool = False) -> Callable[[Session], str]:
        def work(session: Session) -> str:
            audit_service.lock_head(session)  # as every custody change does first
            audit_service.append(session, principal=SYSTEM, action=action, payload={})
            if fail:
                raise ValueError("refused")
            audit_service.append(session, principal=SYSTEM, action=f"{action}-2", payload={})
            return action

        return work

    writer.submit(blocker)
    wait_for(running.is_set, what="the first group to run")
    answers = [writer.submit(logs("one")), writer.submit(logs("two", fail=True))]
    answers.append(writer.submit(logs("three")))
    release.set()
    assert answers[0].result(10) == "one" and answers[2].result(10) == "three"
    with pytest.raises(ValueError, match="refused"):
        answers[1].result(10)
    assert writer.groups == 2  # the three pieces shared the second group's transaction
    with session_scope(read_only(writer_engine)) as session:
        report = audit_service.verify(session)
        actions = [e.action for e in audit_service.list_events(
            session, carrier_id=None, after_seq=0, limit=10, until=10
        )]
    assert report.ok, report.reason
    assert (report.size, actions) == (4, ["one", "one-2", "three", "three-2"])


def test_a_failed_commit_fails_every_piece_and_keeps_nothing(
    writer: GroupWriter, writer_engine: Engine
) -> None:
    release, fail = threading.Event(), threading.Event()

    def blocker(session: Session) -> None:
        release.wait(10)

    @event.listens_for(writer_engine, "commit")
    def broken_disk(_conn: object) -> None:
        if fail.is_set():
            raise OSError("disk full")

    first = writer.submit(blocker)
    answers = [writer.submit(add_borrower(f"b{i}")) for i in range(3)]
    fail.set()  # the first group's commit and the second's both fail
    release.set()
    for answer in [first, *answers]:
        with pytest.raises(OSError, match="disk full"):
            answer.result(10)
    fail.clear()
    assert writer.submit(add_borrower("later")).result(10) == "later"
    assert names(writer_engine) == ["later"]


def test_what_a_failed_piece_announced_is_never_delivered(
    writer: GroupWriter, writer_engine: Engine
) -> None:
    """On SQLite the session holds the message until the commit; on PostgreSQL the NOTIFY sent
    in the rolled-back savepoint is dropped by the server. Either way only "kept" and "too"."""
    listener = Listener(writer_engine, ["test_channel"])

    async def scenario() -> list[str]:
        sub = hub_for(writer_engine).subscribe("test_channel")
        listener.start()
        assert await asyncio.to_thread(listener.ready.wait, 10)
        release = threading.Event()

        def blocker(session: Session) -> None:
            release.wait(10)

        def said(word: str) -> Callable[[Session], str]:
            def work(session: Session) -> str:
                add_borrower(word)(session)
                announce(session, "test_channel", word)
                if word == "rolled-back":
                    raise ValueError(word)
                return word

            return work

        writer.submit(blocker)
        answers = [writer.submit(said(w)) for w in ("kept", "rolled-back", "too")]
        release.set()
        with pytest.raises(ValueError):
            await asyncio.wrap_future(answers[1])
        assert [await asyncio.wrap_future(answers[i]) for i in (0, 2)] == ["kept", "too"]
        return [await asyncio.wait_for(sub.queue.get(), 10) for _ in range(2)]

    try:
        assert run_alone(scenario()) == ["kept", "too"]
    finally:
        listener.stop()


@pytest.mark.parametrize("beside", [True, False], ids=["beside-other-work", "alone-in-its-group"])
def test_work_submitted_together_runs_in_one_call_and_alone_when_that_fails(
    writer: GroupWriter, writer_engine: Engine, beside: bool
) -> None:
    """Beside other work, each call runs in a SAVEPOINT; a group's only call runs without one
    (its failure rolls back the whole transaction). Either way a failed call's writes are
    undone and its pieces run again alone."""
    running, release = threading.Event(), threading.Event()
    calls: list[list[str]] = []
    together = joint(calls)

    writer.submit(held(running, release))
    wait_for(running.is_set, what="the first group to run")
    before = ["a", "b", "c", "between"] if beside else []
    first = [writer.submit_together(together, w) for w in before[:3]]
    others = [writer.submit(add_borrower(w)) for w in before[3:]]
    second = [writer.submit_together(together, w) for w in ("d", "bad", "e")]
    release.set()
    assert [a.result(10) for a in first + others] == before
    assert second[0].result(10) == "d" and second[2].result(10) == "e"
    with pytest.raises(ValueError, match="bad"):
        second[1].result(10)
    # One call for a-b-c; the joint call for d-bad-e failed, so each ran alone.
    assert calls == ([before[:3]] if beside else []) + [["d", "bad", "e"], ["d"], ["bad"], ["e"]]
    assert names(writer_engine) == [*before, "d", "e"]


def test_an_announcement_leaves_only_with_its_groups_commit(
    writer: GroupWriter, writer_engine: Engine
) -> None:
    """Releasing a piece's SAVEPOINT is not the commit (SQLAlchemy's after_commit fires for
    both): a desk told of a scan before the commit would not find it."""
    if writer_engine.dialect.name == "postgresql":
        pytest.skip("PostgreSQL itself delivers a NOTIFY only at the commit")
    committing, release = threading.Event(), threading.Event()

    @event.listens_for(writer_engine, "commit")
    def hold(_conn: object) -> None:
        committing.set()
        release.wait(10)

    def said(session: Session) -> None:
        add_borrower("x")(session)
        announce(session, "test_channel", "x")

    async def scenario() -> None:
        sub = hub_for(writer_engine).subscribe("test_channel")
        answer = writer.submit(said)
        assert await asyncio.to_thread(committing.wait, 10)
        # Anything published before this point was queued on the loop before we resumed.
        assert sub.queue.empty()
        release.set()
        await asyncio.wrap_future(answer)
        assert await asyncio.wait_for(sub.queue.get(), 10) == "x"

    run_alone(scenario())


def test_a_lone_failing_piece_keeps_nothing_and_the_next_chains_after_the_head(
    writer: GroupWriter, writer_engine: Engine
) -> None:
    """A group of one piece runs without a SAVEPOINT: its failure rolls back the whole
    transaction, and the next group chains after the head the database holds."""

    def logs(action: str, *, fail: bool = False) -> Callable[[Session], str]:
        def work(session: Session) -> str:
            audit_service.lock_head(session)
            add_borrower(action)(session)
            audit_service.append(session, principal=SYSTEM, action=action, payload={})
            if fail:
                raise ValueError("refused")
            return action

        return work

    assert writer.submit(logs("one")).result(10) == "one"
    with pytest.raises(ValueError, match="refused"):
        writer.submit(logs("two", fail=True)).result(10)
    assert writer.submit(logs("three")).result(10) == "three"
    assert writer.groups == 3  # each piece was its group's only one
    with session_scope(read_only(writer_engine)) as session:
        report = audit_service.verify(session)
    assert report.ok, report.reason
    assert report.size == 2
    assert names(writer_engine) == ["one", "three"]
