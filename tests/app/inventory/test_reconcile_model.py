"""Reconciliation of random campaigns against a simple reference model.

Random sweeps (shelves set and carriers read in random order, several sessions, partial sweeps,
duplicate reads, batches delivered out of time order and delivered twice) go through the real
service on SQLite; the report's classes must equal what a few lines of plain Python say they
are: a read is placed on the latest shelf its session read at or before it, a carrier's class
comes from its latest placed read, and "not seen" is only for carriers expected on a swept shelf.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from app.core.config import Settings
from app.core.db import make_engine, session_scope
from app.core.migrations import upgrade
from app.core.principal import SYSTEM, Principal, Role
from app.custody import schemas as custody_schemas
from app.custody import service as custody_service
from app.inventory import service as inventory_service
from app.inventory.schemas import CampaignCreate, InventoryRead
from tests.factories import build_world, make_carrier, site_today, tag_uid

SHELVES = ["SHELF1", "SHELF2"]
# Carrier n (tag_uid(n)): where the record keeps it, or its state.
CARRIERS = {1: "SHELF1", 2: "SHELF1", 3: "SHELF2", 4: "SHELF2", 5: "lent"}
UNKNOWN = ["04FEEDFACE0001", "04FEEDFACE0002"]
T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)

Event = tuple[str, object]  # ("shelf", code) | ("tag", n) | ("unknown", uid)
events = st.one_of(
    st.tuples(st.just("shelf"), st.sampled_from(SHELVES)),
    st.tuples(st.just("tag"), st.sampled_from(sorted(CARRIERS))),
    st.tuples(st.just("unknown"), st.sampled_from(UNKNOWN)),
)
sweeps = st.lists(st.lists(events, min_size=1, max_size=12), min_size=1, max_size=3)


def _world(tmp: Path) -> tuple[Settings, Engine]:
    url = f"sqlite:///{tmp / 'model.db'}"
    settings = Settings(DATA_DIR=tmp, DATABASE_URL=url, SECRET_KEY="m" * 40)
    engine = make_engine(url)
    upgrade(engine)
    world = build_world(engine, settings, carriers=0)
    for n, where in CARRIERS.items():
        make_carrier(engine, f"RAD{n:07d}", uid=tag_uid(n))
        with session_scope(engine) as session:
            if where == "lent":
                custody_service.check_out(
                    session=session,
                    principal=SYSTEM,
                    label=f"RAD{n:07d}",
                    settings=settings,
                    today=site_today(settings),
                    checkout_in=custody_schemas.CheckOut(
                        borrower_id=world.borrower_id, purpose="TREAT"
                    ),
                )
            else:
                custody_service.store(
                    session=session,
                    principal=SYSTEM,
                    label=f"RAD{n:07d}",
                    store_in=custody_schemas.Store(location=where),
                    today=site_today(settings),
                )
    return settings, engine


def _expected(timed: list[list[tuple[int, Event]]]) -> dict[str, str]:
    """The reference model."""
    placed: dict[int, tuple[int, str]] = {}  # carrier -> (time, shelf) of its latest placed read
    swept: set[str] = set()
    for session in timed:
        shelf = None
        for at, (kind, what) in sorted(session, key=lambda e: e[0]):
            if kind == "shelf":
                shelf = str(what)
                swept.add(shelf)
            elif kind == "tag" and shelf is not None:
                n = int(str(what))
                if n not in placed or at > placed[n][0]:
                    placed[n] = (at, shelf)
    classes = {}
    for n, where in CARRIERS.items():
        label = f"RAD{n:07d}"
        if n in placed:
            shelf = placed[n][1]
            classes[label] = (
                "unexpected" if where == "lent" else "found" if where == shelf else "misplaced"
            )
        elif where in swept:
            classes[label] = "not_seen"
    return classes


@pytest.fixture(scope="module")
def model_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Engine]:
    """One archive for every example: each example runs its own campaign over it, and reads
    change no carrier's state."""
    return _world(tmp_path_factory.mktemp("model"))


@settings(max_examples=40, deadline=None)
@given(sweeps=sweeps, data=st.data())
def test_reports_match_the_model(
    model_world: tuple[Settings, Engine], sweeps: list[list[Event]], data: st.DataObject
) -> None:
    app_settings, engine = model_world
    total = sum(len(s) for s in sweeps)
    # Distinct read times, handed out in a random order: devices sync late and out of order.
    times = data.draw(st.permutations(range(total)))
    timed: list[list[tuple[int, Event]]] = []
    reads: list[InventoryRead] = []
    for events_of_session in sweeps:
        session_id = uuid.uuid4()
        timed.append([])
        for event in events_of_session:
            at = times[len(reads)]
            timed[-1].append((at, event))
            kind, what = event
            subject = (
                {"location": what}
                if kind == "shelf"
                else {"tag_uid": tag_uid(int(str(what)))}
                if kind == "tag"
                else {"tag_uid": what}
            )
            reads.append(
                InventoryRead(
                    event_id=uuid.uuid4(),
                    session=session_id,
                    read_at=T0 + timedelta(seconds=at),
                    **subject,
                )
            )
    order = data.draw(st.permutations(reads))
    cut = sorted(data.draw(st.lists(st.integers(0, len(order)), max_size=3)))
    batches = [
        list(order[a:b]) for a, b in zip([0, *cut], [*cut, len(order)], strict=True) if order[a:b]
    ]
    again = data.draw(st.lists(st.sampled_from(reads), max_size=3))  # redelivered
    clerk = Principal(kind="user", id=None, role=Role.CLERK)
    with session_scope(engine) as session:
        campaign = inventory_service.create_campaign(
            session=session,
            principal=SYSTEM,
            campaign_in=CampaignCreate(
                name="model", scope="ARCH", starts_on=date.today(), ends_on=date.today()
            ),
        )
        campaign_id = campaign.id or 0
    for batch in [*batches, again] if again else batches:
        with session_scope(engine) as session:
            inventory_service.ingest(
                session=session,
                principal=clerk,
                campaign_id=campaign_id,
                reads=batch,
                settings=app_settings,
            )
    with session_scope(engine) as session:
        report = inventory_service.report(session=session, campaign_id=campaign_id)
    got = {i.label: i.read_class.value for s in report.shelves for i in s.items}
    assert got == _expected(timed)
    seen_unknown = {str(w) for s in timed for _, (k, w) in s if k == "unknown"}
    assert {t.tag_uid for t in report.unknown} == seen_unknown
