from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.core.config import Settings
from app.core.db import session_scope
from app.core.principal import SYSTEM
from app.custody import schemas, service
from tests.factories import World, make_carrier, site_today
from tests.support.statements import counting

# The site's day (MEDIATRACK_TIMEZONE), which the API counts due dates in.
TODAY = site_today()


def checkout(client: TestClient, world: World, label: str, **body: object) -> httpx.Response:
    payload = {"borrower_id": world.borrower_id, "purpose": "TREAT", **body}
    response: httpx.Response = client.post(
        f"/api/v1/carriers/{label}/checkout", json=payload, headers=world.auth("clerk")
    )
    return response


class TestCheckOut:
    def test_lends_and_shows_holder(self, client: TestClient, world: World) -> None:
        due = (TODAY + timedelta(days=5)).isoformat()
        r = checkout(client, world, world.labels[0], due_on=due)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "checked_out"
        assert body["holder"]["borrower"] == "Dr Wang"
        assert body["holder"]["due_on"] == due

    def test_second_checkout_is_409_with_sentence(self, client: TestClient, world: World) -> None:
        label = world.labels[0]
        due = TODAY + timedelta(days=5)
        assert checkout(client, world, label, due_on=due.isoformat()).status_code == 200
        r = checkout(client, world, label)
        assert r.status_code == 409
        detail = r.json()["detail"]
        assert r.json()["error"] == "conflict"
        assert detail.startswith(f"DVD {label} is already lent to Dr Wang until {due.day} ")

    def test_unknown_purpose_is_422(self, client: TestClient, world: World) -> None:
        r = checkout(client, world, world.labels[0], purpose="SHOPPING")
        assert r.status_code == 422
        assert "not a purpose of use" in r.json()["detail"]

    def test_research_needs_another_admins_approval(self, client: TestClient, world: World) -> None:
        label = world.labels[0]
        # Which purposes need an approver, and who may approve, is on file: a conflict (409).
        assert checkout(client, world, label, purpose="HRESCH").status_code == 409
        r = checkout(client, world, label, purpose="HRESCH", approver="clerk")
        assert r.status_code == 409
        r = checkout(client, world, label, purpose="HRESCH", approver="admin2")
        assert r.status_code == 200, r.text

    def test_past_due_date_is_refused(self, client: TestClient, world: World) -> None:
        r = checkout(client, world, world.labels[0], due_on=(TODAY - timedelta(days=1)).isoformat())
        assert r.status_code == 422

    def test_legal_hold_blocks_checkout(self, client: TestClient, world: World) -> None:
        label = world.labels[0]
        r = client.post(
            f"/api/v1/carriers/{label}/hold",
            json={"reason": "litigation"},
            headers=world.auth("admin"),
        )
        assert r.status_code == 200
        r = checkout(client, world, label)
        assert r.status_code == 409 and "legal hold" in r.json()["detail"]
        r = client.post(
            f"/api/v1/carriers/{label}/release",
            json={"reason": "case closed"},
            headers=world.auth("admin"),
        )
        assert r.status_code == 200
        assert checkout(client, world, label).status_code == 200


class TestReturn:
    def test_return_closes_loan(self, client: TestClient, world: World) -> None:
        label = world.labels[0]
        assert checkout(client, world, label).status_code == 200
        r = client.post(
            f"/api/v1/carriers/{label}/return",
            json={"location": "SHELF2"},
            headers=world.auth("clerk"),
        )
        assert r.status_code == 200
        assert r.json()["status"] == "in_storage"
        assert r.json()["holder"] is None
        assert r.json()["location"]["code"] == "SHELF2"
        again = client.post(
            f"/api/v1/carriers/{label}/return", json={}, headers=world.auth("clerk")
        )
        assert again.status_code == 409
        assert "in storage" in again.json()["detail"]


    def test_a_return_with_no_body_goes_home(self, client: TestClient, world: World) -> None:
        label = world.labels[0]
        home = client.get(f"/api/v1/carriers/{label}", headers=world.auth("clerk")).json()["home"]
        assert checkout(client, world, label).status_code == 200
        r = client.post(f"/api/v1/carriers/{label}/return", headers=world.auth("clerk"))
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "in_storage"
        assert r.json()["location"] == home


class TestTransfer:
    def test_dispatch_and_receive(self, client: TestClient, world: World) -> None:
        labels = world.labels[:2]
        r = client.post(
            "/api/v1/transfers",
            json={"labels": labels, "to_location": "VAULT", "seal_number": "SEAL-1"},
            headers=world.auth("clerk"),
        )
        assert r.status_code == 201, r.text
        transfer = r.json()
        assert transfer["open_carriers"] == labels
        carrier = client.get(f"/api/v1/carriers/{labels[0]}", headers=world.auth("clerk")).json()
        assert carrier["status"] == "in_transit"
        assert carrier["transit"]["seal_number"] == "SEAL-1"
        assert checkout(client, world, labels[0]).status_code == 409
        r = client.post(
            f"/api/v1/transfers/{transfer['id']}/receive",
            json={"labels": [labels[0]]},
            headers=world.auth("clerk"),
        )
        assert r.status_code == 200
        assert r.json()["open_carriers"] == [labels[1]]
        r = client.post(
            f"/api/v1/transfers/{transfer['id']}/receive", json={}, headers=world.auth("clerk")
        )
        assert r.json()["open_carriers"] == []
        carrier = client.get(f"/api/v1/carriers/{labels[1]}", headers=world.auth("clerk")).json()
        assert carrier["status"] == "in_storage"
        assert carrier["location"]["code"] == "VAULT"

    def test_dispatch_is_all_or_nothing(self, client: TestClient, world: World) -> None:
        assert checkout(client, world, world.labels[1]).status_code == 200
        r = client.post(
            "/api/v1/transfers",
            json={"labels": world.labels[:2], "to_location": "VAULT"},
            headers=world.auth("clerk"),
        )
        assert r.status_code == 409
        first = client.get(f"/api/v1/carriers/{world.labels[0]}", headers=world.auth("clerk"))
        assert first.json()["status"] == "in_storage"


class TestMissingFoundRetire:
    def test_missing_then_found_then_store(self, client: TestClient, world: World) -> None:
        label = world.labels[0]
        assert checkout(client, world, label).status_code == 200
        h = world.auth("clerk")
        assert (
            client.post(f"/api/v1/carriers/{label}/missing", json={}, headers=h).status_code == 200
        )
        r = client.post(f"/api/v1/carriers/{label}/found", json={"location": "DESK"}, headers=h)
        assert r.status_code == 200
        assert r.json()["status"] == "found" and r.json()["holder"] is None
        r = client.post(f"/api/v1/carriers/{label}/store", json={"location": "SHELF1"}, headers=h)
        assert r.json()["status"] == "in_storage"

    def test_retire_needs_storage_no_hold_and_no_only_copy(
        self, client: TestClient, world: World, engine: Engine
    ) -> None:
        admin = world.auth("admin")

        def retire(label: str) -> Any:
            return client.post(
                f"/api/v1/carriers/{label}/retire", json={"reason": "migrated"}, headers=admin
            )

        # world.labels[0] holds a study found nowhere else: it may be the only copy.
        r = retire(world.labels[0])
        assert r.status_code == 409 and "may hold the only copy" in r.json()["detail"]
        empty = make_carrier(engine, "EMPTY01")
        client.post(f"/api/v1/carriers/{empty}/hold", json={"reason": "audit"}, headers=admin)
        r = retire(empty)
        assert r.status_code == 409 and "legal hold" in r.json()["detail"]
        client.post(f"/api/v1/carriers/{empty}/release", json={"reason": "done"}, headers=admin)
        r = retire(empty)
        assert r.status_code == 200 and r.json()["status"] == "retired"
        assert retire(empty).status_code == 409  # already retired


class TestOverdue:
    def test_lists_overdue_loans(self, client: TestClient, world: World, engine: Engine) -> None:
        with session_scope(engine) as session:
            service.check_out(
                session=session,
                principal=SYSTEM,
                label=world.labels[0],
                checkout_in=schemas.CheckOut(
                    borrower_id=world.borrower_id,
                    purpose="TREAT",
                    due_on=TODAY - timedelta(days=3),
                ),
                settings=Settings(),
                today=TODAY,
            )
        checkout(client, world, world.labels[1])
        r = client.get("/api/v1/overdue", headers=world.auth("clerk"))
        assert r.status_code == 200
        loans = r.json()["loans"]
        assert [(x["carrier"]["label"], x["days_overdue"]) for x in loans] == [(world.labels[0], 3)]


    def test_costs_the_same_queries_however_long(
        self,
        client: TestClient,
        world: World,
        engine: Engine,
        settings: Settings,
        memory_lapses: Callable[[], None],
    ) -> None:
        def late(label: str, to: str) -> None:
            with session_scope(engine) as session:
                service.check_out(
                    session=session, principal=SYSTEM, label=label, settings=settings, today=TODAY,
                    checkout_in=schemas.CheckOut(borrower_id=world.borrower_id, purpose="TREAT",
                                                 due_on=TODAY - timedelta(days=2)),
                )
                service.return_carrier(session=session, principal=SYSTEM, label=label,
                                       return_in=schemas.Return(), today=TODAY)
                transfer = service.dispatch(
                    session=session, principal=SYSTEM, today=TODAY,
                    dispatch_in=schemas.Dispatch(labels=[label], to_location=to))
                # A dispatch cannot be given a past date: the courier is a day late.
                transfer.expected_on = TODAY - timedelta(days=1)
            with session_scope(engine) as session:
                service.check_out(
                    session=session, principal=SYSTEM, label=make_carrier(engine, f"L{label}"),
                    settings=settings, today=TODAY,
                    checkout_in=schemas.CheckOut(borrower_id=world.borrower_id, purpose="TREAT",
                                                 due_on=TODAY - timedelta(days=3)),
                )

        def overdue() -> dict[str, Any]:
            r = client.get("/api/v1/overdue", headers=world.auth("clerk"))
            assert r.status_code == 200
            found: dict[str, Any] = r.json()
            return found

        late(world.labels[0], "VAULT")
        # Each counted request finds its caller in the database, not in the app's memory of
        # callers let in a moment ago (app.auth.deps.Callers), so both count the same work.
        memory_lapses()
        with counting(engine) as short:
            one = overdue()
        assert [len(one["loans"]), len(one["transfers"])] == [1, 1]
        assert one["transfers"][0]["transfer"]["carriers"] == [world.labels[0]]
        assert one["transfers"][0]["transfer"]["to"]["code"] == "VAULT"
        assert one["transfers"][0]["days_overdue"] == 1
        late(world.labels[1], "SHELF2")
        late(world.labels[2], "DESK")
        memory_lapses()
        with counting(engine) as long:
            three = overdue()
        assert [len(three["loans"]), len(three["transfers"])] == [3, 3]
        assert {t["transfer"]["to"]["code"] for t in three["transfers"]} == {
            "VAULT", "SHELF2", "DESK"
        }
        assert len(long) == len(short), "\n".join(long)


def test_due_date_at_most_a_year_ahead(client: TestClient, world: World) -> None:
    r = checkout(client, world, world.labels[0], due_on=(TODAY + timedelta(days=400)).isoformat())
    assert r.status_code == 422
    assert "at most 365 days" in r.json()["detail"]
