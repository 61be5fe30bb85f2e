"""The transition table (app/custody/transitions.py) against what the code does.

For every carrier state, with and without a legal hold, each move is tried through the service
that makes it (and rolled back): the moves it lets through are exactly the actions a scan of
that carrier offers. Every action is the name of a real route.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from app.carriers import service as carrier_service
from app.carriers.schemas import CarrierStatus
from app.core.config import Settings
from app.core.db import session_scope
from app.core.errors import ConflictError
from app.core.ids import id_of
from app.core.principal import SYSTEM
from app.core.time import utcnow
from app.custody import schemas, service
from app.custody.models import Transfer, TransferItem
from app.custody.transitions import MOVES, Action, next_actions
from app.locations import service as location_service
from app.main import create_app
from app.tags import service as tag_service
from app.tags.schemas import TagBind
from tests.factories import World, make_carrier, site_today, tag_uid

Try = Callable[[Session, str], object]


def _receive(session: Session, label: str) -> object:
    """Put the carrier on a transfer of its own, then receive it."""
    carrier = carrier_service.get_by_label(session=session, label=label)
    vault = location_service.get_by_code(session=session, code="VAULT")
    transfer = Transfer(
        from_location_id=carrier.current_location_id,
        to_location_id=id_of(vault),
        dispatched_at=utcnow(),
    )
    session.add(transfer)
    session.flush()
    session.add(TransferItem(transfer_id=id_of(transfer), carrier_id=id_of(carrier)))
    session.flush()
    return service.receive(
        session=session,
        principal=SYSTEM,
        transfer_id=id_of(transfer),
        receive_in=schemas.Receive(labels=[label]),
        today=site_today(),
    )


def _tries(world: World, settings: Settings) -> dict[Action, Try]:
    p, today = SYSTEM, site_today(settings)
    return {
        Action.CHECKOUT: lambda s, label: service.check_out(
            session=s,
            principal=p,
            label=label,
            checkout_in=schemas.CheckOut(borrower_id=world.borrower_id, purpose="TREAT"),
            settings=settings,
            today=today,
        ),
        Action.RETURN: lambda s, label: service.return_carrier(
            session=s, principal=p, label=label, return_in=schemas.Return(location="SHELF1"),
            today=today,
        ),
        Action.RECEIVE: _receive,
        Action.FOUND: lambda s, label: service.report_found(
            session=s, principal=p, label=label, found_in=schemas.Found(location="SHELF1"),
            today=today,
        ),
        Action.STORE: lambda s, label: service.store(
            session=s, principal=p, label=label, store_in=schemas.Store(location="SHELF2"),
            today=today,
        ),
        Action.DISPATCH: lambda s, label: service.dispatch(
            session=s,
            principal=p,
            dispatch_in=schemas.Dispatch(labels=[label], to_location="VAULT"),
            today=today,
        ),
        Action.TAG: lambda s, label: tag_service.bind(
            session=s, principal=p, label=label, bind_in=TagBind(tag_uid=tag_uid(999))
        ),
        Action.MISSING: lambda s, label: service.report_missing(
            session=s, principal=p, label=label, missing_in=schemas.Missing(), today=today
        ),
        Action.HOLD: lambda s, label: service.set_hold(
            session=s, principal=p, label=label, reason="court order", hold=True, today=today
        ),
        Action.RELEASE: lambda s, label: service.set_hold(
            session=s, principal=p, label=label, reason="case closed", hold=False,
            today=today,
        ),
        Action.RETIRE: lambda s, label: service.retire(
            session=s, principal=p, label=label, reason="copied elsewhere", today=today
        ),
    }


def _allowed(engine: Engine, attempt: Try, label: str) -> bool:
    """Whether the move goes through; it is rolled back either way."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            attempt(session, label)
        except ConflictError:
            return False
        finally:
            session.rollback()
    return True


def _put_in(engine: Engine, label: str, status: CarrierStatus, held: bool) -> None:
    with session_scope(engine) as session:
        carrier = carrier_service.get_by_label(session=session, label=label)
        carrier.status, carrier.legal_hold = status.value, held
        session.add(carrier)


def test_the_service_allows_exactly_what_a_scan_offers(
    client: TestClient, engine: Engine, world: World, settings: Settings
) -> None:
    tries = _tries(world, settings)
    assert set(tries) == set(Action)
    seq = 0
    for status in CarrierStatus:
        for held in (False, True):
            seq += 1
            label = make_carrier(engine, f"WALK{seq:04d}", uid=tag_uid(500 + seq))
            _put_in(engine, label, status, held)
            allowed = [a.value for a, attempt in tries.items() if _allowed(engine, attempt, label)]
            read = {
                "event_id": str(uuid.uuid4()),
                "station_seq": seq,
                "tag_uid": tag_uid(500 + seq),
                "technology": "iso14443a",
                "read_at": datetime.now(UTC).isoformat(),
            }
            r = client.post("/api/v1/scans", json={"reads": [read]}, headers=world.auth("station"))
            [answer] = r.json()["results"]
            state = f"{status.value}{' under legal hold' if held else ''}"
            assert answer["carrier"]["status"] == status.value
            assert answer["actions"] == allowed, state
            assert next_actions(status, legal_hold=held) == allowed, state


def test_a_found_carrier_can_be_reported_missing_again() -> None:
    # The case the old hand-kept list left out.
    assert "missing" in next_actions(CarrierStatus.FOUND, legal_hold=False)


def _routes_named(app: FastAPI, name: str) -> list[str]:
    return [
        f"{','.join(sorted(context.methods or ()))} {context.path}"
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
        and context.original_route.name == name
        and (context.path or "").startswith("/api/")  # web pages may reuse the names
    ]


# The route table does not depend on the database: an app whose engine never connects.
_APP = create_app(
    Settings(
        DATABASE_URL=f"sqlite:///{Path(tempfile.gettempdir()) / 'mediatrack-never-opened.db'}",
        SECRET_KEY="x" * 40,
    )
)


@pytest.mark.parametrize("action", list(Action))
def test_every_action_is_the_name_of_one_route(action: Action) -> None:
    [route] = _routes_named(_APP, action.value)
    assert route.startswith("POST /api/v1/")
    assert action in MOVES
