"""The pages count and print days in the site's zone, as the custody log beside them shows its
times: at 17:30 UTC on 6 Dec (01:30 on 7 Dec in Shanghai) a loan made then reads "since 7 Dec",
one due on 6 Dec is a day overdue, and a new loan is due 14 days from 7 Dec. On both databases.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.carriers import service as carrier_service
from app.core.config import Settings
from app.core.db import session_scope
from app.core.principal import SYSTEM
from app.core.time import local_today
from app.custody import schemas as custody_schemas
from app.custody import service as custody_service
from tests.app.web.test_pages import _log_in
from tests.factories import World

NIGHT = datetime(2026, 12, 6, 17, 30, tzinfo=UTC)  # 01:30 on 7 Dec in Shanghai


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"TIMEZONE": "Asia/Shanghai"})


@pytest.fixture
def clerk(
    client: TestClient, world: World, clock: Callable[[datetime], None]
) -> TestClient:
    clock(NIGHT)
    _log_in(client, "clerk")
    return client


def _lend_at_night(engine: Engine, settings: Settings, world: World, label: str) -> None:
    """Lent at NIGHT (back-filled by the system), due on 6 Dec."""
    with session_scope(engine) as session:
        custody_service.check_out(
            session=session, principal=SYSTEM, label=label, settings=settings,
            today=local_today(settings.zone),
            checkout_in=custody_schemas.CheckOut(
                borrower_id=world.borrower_id, purpose="TREAT", due_on=date(2026, 12, 6)
            ),
        )
        carrier = carrier_service.get_by_label(session=session, label=label)
        loan = custody_service.open_loan(session=session, carrier_id=carrier.id or 0)
        assert loan is not None
        loan.out_at = NIGHT
        session.add(loan)


def test_the_card_of_a_loan_made_and_due_across_utc_midnight(
    clerk: TestClient, engine: Engine, settings: Settings, world: World
) -> None:
    label = world.labels[0]
    _lend_at_night(engine, settings, world, label)
    card = clerk.get(f"/desk/carriers/{label}")
    assert card.status_code == 200, card.text
    assert "Lent to Dr Wang since Dec 7, 2026, due Dec 6, 2026. Overdue by 1 day." in card.text
    assert "overdue by 1 day</span>" in card.text


def test_the_loans_list_dates_the_loan_by_the_sites_day(
    clerk: TestClient, engine: Engine, settings: Settings, world: World
) -> None:
    _lend_at_night(engine, settings, world, world.labels[0])
    page = clerk.get("/lists/loans").text
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", page)
    assert "Dec 7, 2026" in cells and "Dec 6, 2026" in cells and "1 day" in cells, cells


def test_a_new_loan_is_due_from_the_sites_day(
    clerk: TestClient, settings: Settings, world: World
) -> None:
    card = clerk.get(f"/desk/carriers/{world.labels[0]}").text  # in storage: the lend form
    due = date(2026, 12, 7) + timedelta(days=settings.DEFAULT_LOAN_DAYS)
    assert f'name="due_on" type="date" value="{due.isoformat()}"' in card
