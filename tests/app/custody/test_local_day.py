"""A loan's days overdue are counted from the archive's day (MEDIATRACK_TIMEZONE), not UTC's.

At 17:30 UTC on 6 Dec it is 01:30 on 7 Dec in Shanghai: a loan due on 6 Dec is a day overdue
there, while a UTC "today" (still 6 Dec) called it not overdue at all. On both databases.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import col, select

from app.audit.models import CustodyEvent
from app.carriers import service as carrier_service
from app.core.config import Settings
from app.core.db import session_scope
from app.core.principal import SYSTEM
from app.core.time import local_today
from app.custody import schemas, service
from tests.factories import World

NIGHT = datetime(2026, 12, 6, 17, 30, tzinfo=UTC)  # 01:30 on 7 Dec in Shanghai
DUE = date(2026, 12, 6)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"TIMEZONE": "Asia/Shanghai"})


@pytest.fixture
def late(
    engine: Engine, world: World, settings: Settings, clock: Callable[[datetime], None]
) -> str:
    """world.labels[0], lent at NIGHT (back-filled by the system) and due on 6 Dec."""
    clock(NIGHT)
    label = world.labels[0]
    with session_scope(engine) as session:
        service.check_out(
            session=session,
            principal=SYSTEM,
            label=label,
            checkout_in=schemas.CheckOut(
                borrower_id=world.borrower_id, purpose="TREAT", due_on=DUE
            ),
            settings=settings,
            today=local_today(settings.zone),
        )
        carrier = carrier_service.get_by_label(session=session, label=label)
        loan = service.open_loan(session=session, carrier_id=carrier.id or 0)
        assert loan is not None
        loan.out_at = NIGHT
        session.add(loan)
    return label


def test_a_loan_due_yesterday_is_a_day_overdue(
    engine: Engine, settings: Settings, late: str
) -> None:
    today = local_today(settings.zone)
    assert today == date(2026, 12, 7)
    with session_scope(engine) as session:
        [(carrier, loan)] = service.overdue_loans(session=session, today=today)
        assert carrier.label == late and (today - loan.due_on).days == 1
        snap = carrier_service.snapshot(session=session, carrier=carrier)
        sentence = carrier_service.state_sentence(snap, today=today)
        assert sentence.endswith("until 6 Dec. It is overdue by 1 day."), sentence
        holder = carrier_service.public_view(snap, today=today).holder
        assert holder is not None and holder.overdue


def test_the_return_logs_the_days_overdue(engine: Engine, settings: Settings, late: str) -> None:
    with session_scope(engine) as session:
        service.return_carrier(
            session=session,
            principal=SYSTEM,
            label=late,
            return_in=schemas.Return(),
            today=local_today(settings.zone),
        )
    with session_scope(engine) as session:
        event = session.exec(
            select(CustodyEvent)
            .where(CustodyEvent.action == "return")
            .order_by(col(CustodyEvent.seq).desc())
        ).first()
        assert event is not None and json.loads(event.payload)["days_overdue"] == 1


def test_the_api_counts_from_the_archives_day(client: TestClient, world: World, late: str) -> None:
    r = client.get("/api/v1/overdue", headers=world.auth("clerk"))
    assert r.status_code == 200, r.text
    [loan] = r.json()["loans"]
    assert (loan["carrier"]["label"], loan["days_overdue"]) == (late, 1)
    assert loan["carrier"]["holder"]["overdue"] is True
    # The day before today in Shanghai is in the past, though it is UTC's today.
    r = client.post(
        f"/api/v1/carriers/{world.labels[1]}/checkout",
        json={"borrower_id": world.borrower_id, "purpose": "TREAT", "due_on": DUE.isoformat()},
        headers=world.auth("clerk"),
    )
    assert r.status_code == 422 and "in the past" in r.json()["detail"], r.text
