"""POST /api/v1/scans: resolution, the answer a desk shows, and idempotent delivery."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlmodel import select

from tests.factories import World, site_today, tag_uid


def read(
    uid: str, seq: int, event_id: str | None = None, technology: str = "iso14443a"
) -> dict[str, Any]:
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "station_seq": seq,
        "tag_uid": uid,
        "technology": technology,
        "read_at": datetime.now(UTC).isoformat(),
    }


def post(
    client: TestClient, world: World, reads: list[dict[str, Any]], key: str | None = None
) -> Any:
    headers = {"X-API-Key": key or world.station_key}
    r = client.post("/api/v1/scans", json={"reads": reads}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["results"]


def count(engine: Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar() or 0)


class TestResolve:
    def test_known_tag_is_seen_at_station_location(
        self, client: TestClient, world: World, engine: Engine
    ) -> None:
        # Reader separators and lower case are normalised.
        uid = tag_uid(1)
        spaced = ":".join(uid[i : i + 2] for i in range(0, len(uid), 2)).lower()
        [result] = post(client, world, [read(spaced, 1)])
        assert result["outcome"] == "seen"
        assert result["replayed"] is False
        assert result["carrier"]["label"] == world.labels[0]
        assert result["carrier"]["status"] == "in_storage"
        assert result["carrier"]["studies"][0]["study_uid"].startswith("1.2.826.0.1.3680043")
        assert "checkout" in result["actions"]
        assert result["message"].startswith(f"DVD {world.labels[0]} is in storage at")
        assert count(engine, "SELECT COUNT(*) FROM custody_event WHERE action = 'seen'") == 1
        with engine.connect() as conn:
            station_loc = conn.execute(
                text("SELECT location_id FROM station WHERE name='desk-1'")
            ).scalar()
            seen = conn.execute(
                text("SELECT location_id, station_id FROM custody_event WHERE action='seen'")
            ).one()
        assert seen[0] == station_loc and seen[1] is not None

    def test_unregistered_tag_invites_registration(self, client: TestClient, world: World) -> None:
        [result] = post(client, world, [read("04AABBCCDDEE99", 1)])
        assert result["outcome"] == "unregistered_tag"
        assert result["actions"] == ["register"]
        assert "04AABBCCDDEE99" in result["message"]

    def test_lent_carrier_answers_holder_and_return(self, client: TestClient, world: World) -> None:
        client.post(
            f"/api/v1/carriers/{world.labels[1]}/checkout",
            json={"borrower_id": world.borrower_id, "purpose": "TREAT"},
            headers=world.auth("clerk"),
        )
        [result] = post(client, world, [read(tag_uid(2), 1)])
        assert result["carrier"]["holder"] == "Dr Wang"
        assert result["actions"] == ["return", "tag", "missing", "hold"]

    def test_bad_uid_is_rejected_alone(
        self, client: TestClient, world: World, engine: Engine
    ) -> None:
        results = post(client, world, [read("XYZ", 1), read(tag_uid(1), 2)])
        assert [r["outcome"] for r in results] == ["rejected", "seen"]
        assert "hexadecimal" in results[0]["message"]
        assert count(engine, "SELECT COUNT(*) FROM scan") == 2


class TestIdempotency:
    def test_same_batch_many_times_is_recorded_once(
        self, client: TestClient, world: World, engine: Engine
    ) -> None:
        batch = [read(tag_uid(n % 3 + 1), n) for n in range(1, 21)]
        first = post(client, world, batch)
        events_after_first = count(engine, "SELECT COUNT(*) FROM custody_event")
        for _ in range(10):
            again = post(client, world, batch)
            assert [r["replayed"] for r in again] == [True] * 20
            assert [{**r, "replayed": False} for r in again] == first
        assert count(engine, "SELECT COUNT(*) FROM scan") == 20
        assert count(engine, "SELECT COUNT(*) FROM custody_event") == events_after_first
        assert count(engine, "SELECT COUNT(*) FROM custody_event WHERE action='seen'") == 20

    def test_same_sequence_new_event_id_is_a_replay(
        self, client: TestClient, world: World, engine: Engine
    ) -> None:
        [first] = post(client, world, [read(tag_uid(1), 7)])
        [second] = post(client, world, [read(tag_uid(2), 7)])
        assert second["replayed"] is True
        assert second["event_id"] == first["event_id"]
        assert count(engine, "SELECT COUNT(*) FROM scan") == 1

    def test_duplicate_inside_one_batch(
        self, client: TestClient, world: World, engine: Engine
    ) -> None:
        one = read(tag_uid(1), 3)
        results = post(client, world, [one, one])
        assert [r["replayed"] for r in results] == [False, True]
        assert count(engine, "SELECT COUNT(*) FROM scan") == 1

    def test_sequences_are_per_station(
        self, client: TestClient, world: World, engine: Engine
    ) -> None:
        post(client, world, [read(tag_uid(1), 1)])
        [other] = post(client, world, [read(tag_uid(1), 1)], key=world.other_station_key)
        assert other["replayed"] is False
        assert count(engine, "SELECT COUNT(*) FROM scan") == 2

    def test_station_comes_from_key_not_body(self, client: TestClient, world: World) -> None:
        bad = read(tag_uid(1), 1) | {"station_id": 2}
        r = client.post("/api/v1/scans", json={"reads": [bad]}, headers=world.auth("station"))
        assert r.status_code == 422


@pytest.mark.parametrize("size", [0, 501])
def test_batch_size_limits(client: TestClient, world: World, size: int) -> None:
    reads = [read(tag_uid(1), n + 1) for n in range(size)]
    r = client.post("/api/v1/scans", json={"reads": reads}, headers=world.auth("station"))
    assert r.status_code in (413, 422)


@pytest.mark.parametrize(
    ("read_at", "says"),
    [
        (0, "ISO 8601"),  # a number would be seconds since 1970
        ("2026-11-28", "ISO 8601"),
        ("2026-11-28T09:30:00", "zone"),
    ],
)
def test_a_read_time_must_be_a_time(
    client: TestClient, world: World, engine: Engine, read_at: object, says: str
) -> None:
    bad = read(tag_uid(1), 1) | {"read_at": read_at}
    r = client.post("/api/v1/scans", json={"reads": [bad]}, headers=world.auth("station"))
    assert r.status_code == 422
    assert says in r.json()["detail"]
    assert count(engine, "SELECT COUNT(*) FROM scan") == 0


class TestStationClock:
    """A station with a flat clock battery dates reads 1970; one set a week ahead dates them in
    the future. Neither may stall the station: the read is kept as sent, flagged, and counted at
    the time the server received it."""

    @pytest.mark.parametrize(
        "read_at", ["1970-01-01T00:00:07Z", "2099-06-01T12:00:00+08:00"], ids=["1970", "future"]
    )
    def test_an_implausible_time_is_flagged_not_refused(
        self, read_at: str, client: TestClient, world: World, engine: Engine
    ) -> None:
        good = read(tag_uid(2), 1)
        bad = read(tag_uid(1), 2) | {"read_at": read_at}
        before = datetime.now(UTC)
        first, second = post(client, world, [good, bad])
        assert first["outcome"] == second["outcome"] == "seen"
        assert first["clock_wrong"] is False and second["clock_wrong"] is True
        assert "clock is wrong" in second["message"]
        with engine.connect() as conn:
            kept, flagged = conn.execute(
                text("SELECT read_at, clock_wrong FROM scan WHERE event_id = :e"),
                {"e": bad["event_id"]},
            ).one()
            last_seen = conn.execute(
                text("SELECT last_seen_at FROM carrier WHERE label = :l"),
                {"l": world.labels[0]},
            ).scalar_one()
            payload = conn.execute(
                text("SELECT payload FROM custody_event WHERE action = 'seen' ORDER BY seq DESC")
            ).first()
        assert flagged in (True, 1)
        assert _utc(kept) == datetime.fromisoformat(read_at)  # kept as the station sent it
        assert _utc(last_seen) >= before.replace(microsecond=0)  # counted when received
        assert payload is not None and '"clock_wrong":true' in payload[0].replace(" ", "")
        me = client.get("/api/v1/stations/me", headers={"X-API-Key": world.station_key})
        assert me.json()["clock_wrong"] is True

    def test_the_flag_clears_when_the_clock_is_set(self, client: TestClient, world: World) -> None:
        headers = {"X-API-Key": world.station_key}
        post(client, world, [read(tag_uid(1), 1) | {"read_at": "1970-01-01T00:00:00Z"}])
        assert client.get("/api/v1/stations/me", headers=headers).json()["clock_wrong"] is True
        [result] = post(client, world, [read(tag_uid(1), 2)])
        assert result["clock_wrong"] is False
        assert client.get("/api/v1/stations/me", headers=headers).json()["clock_wrong"] is False


def _utc(value: Any) -> datetime:
    """A timestamp column as aware UTC (SQLite hands back naive UTC text)."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def test_the_answer_for_an_overdue_loan_says_it_is_overdue(
    client: TestClient, world: World, engine: Engine, settings: Any
) -> None:
    from datetime import timedelta

    from app.core.db import session_scope
    from app.core.principal import SYSTEM
    from app.custody import service as custody_service
    from app.custody.schemas import CheckOut

    today = site_today(settings)  # the site's day, which the answer counts from
    with session_scope(engine) as session:  # a loan from the paper ledger, due 3 days ago
        custody_service.check_out(
            session=session,
            principal=SYSTEM,
            label=world.labels[0],
            settings=settings,
            today=today,
            checkout_in=CheckOut(
                borrower_id=world.borrower_id,
                purpose="TREAT",
                due_on=today - timedelta(days=3),
            ),
        )
    [result] = post(client, world, [read(tag_uid(1), 1)])
    assert result["message"].endswith("It is overdue by 3 days.")
    assert result["actions"][0] == "return"


def test_a_late_read_does_not_move_last_seen_back(
    client: TestClient, world: World, engine: Engine
) -> None:
    post(client, world, [read(tag_uid(1), 1)])
    late = read(tag_uid(1), 2) | {"read_at": "2020-01-01T08:00:00Z"}  # an outbox offline long
    [result] = post(client, world, [late])
    assert result["outcome"] == "seen" and result["clock_wrong"] is False
    with engine.connect() as conn:
        last = conn.execute(
            text("SELECT last_seen_at FROM carrier WHERE label = :l"), {"l": world.labels[0]}
        ).scalar_one()
    assert _utc(last).year >= 2026


SHELF2_TAG = "04A1B2C3D4E502"


def test_a_shelf_tag_sets_where_the_next_carriers_are_seen(
    client: TestClient, world: World, engine: Engine
) -> None:
    """A handheld reads a shelf's tag, then the carriers on it: they are seen on that shelf,
    and one that belongs elsewhere is told so (one that is in place is not)."""
    from app.core.db import session_scope
    from app.core.principal import SYSTEM
    from app.custody import schemas, service
    from app.locations.models import Location

    with session_scope(engine) as session:
        shelf2 = session.exec(select(Location).where(Location.code == "SHELF2")).one()
        shelf2.tag_uid = SHELF2_TAG
        session.add(shelf2)
        service.store(
            session=session,
            principal=SYSTEM,
            label=world.labels[1],
            store_in=schemas.Store(location="SHELF2"),
            today=site_today(),
        )
        shelf2_id = shelf2.id
    [desk] = post(client, world, [read(tag_uid(1), 1)])
    assert "belongs" not in desk["message"]  # at the desk, every carrier is away from its shelf
    shelf, misplaced, in_place = post(
        client, world, [read(SHELF2_TAG, 2), read(tag_uid(1), 3), read(tag_uid(2), 4)]
    )
    assert shelf["outcome"] == "location_tag"
    assert (
        shelf["message"]
        == "Shelf City Hospital / Archive / Shelf 2: the carriers read next are recorded on it."
    )
    assert misplaced["message"].endswith(
        "It belongs on City Hospital / Archive / Shelf 1, not on "
        "City Hospital / Archive / Shelf 2: put it back."
    )
    assert "belongs" not in in_place["message"]
    seen_at = count(
        engine,
        f"SELECT COUNT(*) FROM custody_event WHERE action = 'seen' AND location_id = {shelf2_id}",
    )
    assert seen_at == 2
    # The next batch still counts on that shelf.
    [later] = post(client, world, [read(tag_uid(1), 5)])
    assert "not on City Hospital / Archive / Shelf 2" in later["message"]
