"""GET /api/v1/where: "where is it?" by tag UID, label, StudyInstanceUID, accession, patient ID."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.carriers import service as carrier_service
from app.core.db import session_scope
from app.core.principal import SYSTEM
from app.lookup.service import MAX_HITS
from app.studies import service as study_service
from tests.factories import World, make_carrier, study_in, tag_uid
from tests.support.statements import counting

SHELF1_PATH = "City Hospital / Archive / Shelf 1"


def where(client: TestClient, world: World, q: str, role: str = "clinician", **params: str) -> Any:
    r = client.get("/api/v1/where", params={"q": q, **params}, headers=world.auth(role))
    assert r.status_code == 200, r.text
    return r.json()


def lookups(engine: Engine) -> list[tuple[str, int | None, dict[str, Any]]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT actor_role, actor_id, payload FROM custody_event "
                "WHERE action = 'lookup' ORDER BY seq"
            )
        )
        return [(role, actor, json.loads(payload)) for role, actor, payload in rows]


def log_size(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM custody_event")).scalar_one())


def add_copy(engine: Engine, label: str, of_study: int) -> str:
    """A second carrier holding the same study (a copy), stored on shelf 2."""
    make_carrier(engine, label, study=None, store=False)
    with session_scope(engine) as session:
        carrier = carrier_service.get_by_label(session=session, label=label)
        study_service.link(
            session=session, principal=SYSTEM, carrier=carrier, studies=[study_in(of_study)]
        )
    return label


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        ("04000000000180", "tag"),
        ("04:00:00:00:00:01:80", "tag"),
        ("04-00-00-00-00-01-80", "tag"),
        ("04 00 00 00 00 01 80", "tag"),
        ("RAD0000001", "label"),
        ("1.2.826.0.1.3680043.10.99.1", "study"),
        ("ACC00001", "accession"),
        ("ZZCANARY0001", "patient"),
        ("  ZZCANARY0001  ", "patient"),
    ],
)
def test_each_kind_of_query_finds_the_carrier(
    query: str, kind: str, client: TestClient, world: World
) -> None:
    result = where(client, world, query)
    assert result["kind"] == kind
    assert [h["carrier"]["label"] for h in result["hits"]] == [world.labels[0]]
    carrier = result["hits"][0]["carrier"]
    assert carrier["status"] == "in_storage"
    assert carrier["location"] == {"code": "SHELF1", "path": SHELF1_PATH}
    assert carrier["holder"] is None
    assert [s["study_uid"] for s in carrier["studies"]] == [study_in(1).study_uid]


def test_lower_case_tag_uid_with_separators(
    client: TestClient, world: World, engine: Engine
) -> None:
    uid = "04:aa:bb:cc:dd:ee:80"
    r = client.post(
        f"/api/v1/carriers/{world.labels[1]}/tag",
        json={"tag_uid": uid},
        headers=world.auth("clerk"),
    )
    assert r.status_code == 200, r.text
    result = where(client, world, uid)
    assert result["kind"] == "tag"
    assert [h["carrier"]["label"] for h in result["hits"]] == [world.labels[1]]
    assert result["hits"][0]["carrier"]["tag"]["uid"] == "04AABBCCDDEE80"
    # The old tag of that carrier no longer finds it.
    assert where(client, world, tag_uid(2), kind="tag")["hits"] == []


def test_an_explicit_kind_is_the_only_kind_tried(client: TestClient, world: World) -> None:
    assert where(client, world, "RAD0000001", kind="patient")["hits"] == []
    assert len(where(client, world, "RAD0000001", kind="label")["hits"]) == 1
    result = where(client, world, "ACC00002", kind="accession")
    assert [h["carrier"]["label"] for h in result["hits"]] == [world.labels[1]]


def test_a_lent_carrier_shows_holder_and_due_date(client: TestClient, world: World) -> None:
    due = date.today() + timedelta(days=7)
    r = client.post(
        f"/api/v1/carriers/{world.labels[0]}/checkout",
        json={"borrower_id": world.borrower_id, "purpose": "TREAT", "due_on": due.isoformat()},
        headers=world.auth("clerk"),
    )
    assert r.status_code == 200, r.text
    carrier = where(client, world, "ZZCANARY0001")["hits"][0]["carrier"]
    assert carrier["status"] == "checked_out"
    holder = carrier["holder"]
    assert holder["borrower"] == "Dr Wang"
    assert holder["department"] == "Cardiology"
    assert holder["purpose"] == "TREAT"
    assert holder["due_on"] == due.isoformat()
    assert holder["overdue"] is False


def test_a_carrier_in_transit_shows_where_it_goes(client: TestClient, world: World) -> None:
    r = client.post(
        "/api/v1/transfers",
        json={"labels": [world.labels[0]], "to_location": "VAULT", "seal_number": "S-9"},
        headers=world.auth("clerk"),
    )
    assert r.status_code == 201, r.text
    carrier = where(client, world, "RAD0000001")["hits"][0]["carrier"]
    assert carrier["status"] == "in_transit"
    assert carrier["transit"]["to"] == {"code": "VAULT", "path": "Offsite vault"}
    assert carrier["transit"]["seal_number"] == "S-9"


def test_other_carriers_with_the_same_study(
    client: TestClient, world: World, engine: Engine
) -> None:
    add_copy(engine, "COPY0000001", of_study=1)
    result = where(client, world, "RAD0000001")
    assert result["kind"] == "label"
    others = result["hits"][0]["other_copies"]
    assert others == [
        {
            "label": "COPY0000001",
            "kind": "DVD",
            "status": "registered",
            "location_path": SHELF1_PATH,
            "shared_studies": [study_in(1).study_uid],
        }
    ]
    # By study or patient, both carriers are hits, each naming the other.
    by_study = where(client, world, study_in(1).study_uid)
    assert [h["carrier"]["label"] for h in by_study["hits"]] == ["COPY0000001", "RAD0000001"]
    assert [[o["label"] for o in h["other_copies"]] for h in by_study["hits"]] == [
        ["RAD0000001"],
        ["COPY0000001"],
    ]
    # A carrier that shares nothing has no other copies.
    assert where(client, world, "RAD0000002")["hits"][0]["other_copies"] == []


def test_a_lookup_costs_the_same_statements_however_many_hits(
    client: TestClient, world: World, engine: Engine, memory_lapses: Callable[[], None]
) -> None:
    """The carriers come with their place, tag and loan in one statement, not one per hit."""
    # Each counted request finds its caller in the database (app.auth.deps.Callers).
    memory_lapses()
    with counting(engine) as one:
        assert len(where(client, world, study_in(2).study_uid)["hits"]) == 1
    add_copy(engine, "COPY0000001", of_study=1)
    add_copy(engine, "COPY0000002", of_study=1)
    memory_lapses()
    with counting(engine) as three:
        assert len(where(client, world, study_in(1).study_uid)["hits"]) == 3
    assert len(three) == len(one), "\n".join(three)


def test_at_most_fifty_carriers_by_label(client: TestClient, world: World, engine: Engine) -> None:
    """A study on more carriers than an answer lists gives the first MAX_HITS by label."""
    copies = [add_copy(engine, f"COPY{n:07d}", of_study=1) for n in range(1, MAX_HITS + 2)]
    hits = where(client, world, study_in(1).study_uid)["hits"]
    assert [h["carrier"]["label"] for h in hits] == sorted([*copies, world.labels[0]])[:MAX_HITS]


def test_nothing_found_is_an_empty_answer(client: TestClient, world: World) -> None:
    for query in ["ZZCANARY9999", "NOSUCHLABEL", "1.2.3.4.5", "04:11:22:33"]:
        assert where(client, world, query)["hits"] == []


def test_each_lookup_appends_one_lookup_event(
    client: TestClient, world: World, engine: Engine
) -> None:
    queries = ["ZZCANARY0001", "RAD0000002", "ACC00003", "nothing-here"]
    for n, query in enumerate(queries, start=1):
        size = log_size(engine)
        where(client, world, query, role="clinician")
        assert log_size(engine) == size + 1
        assert len(lookups(engine)) == n
    entries = lookups(engine)
    assert {role for role, _, _ in entries} == {"clinician"}
    assert [payload["kind"] for _, _, payload in entries[:3]] == ["patient", "label", "accession"]
    assert entries[0][2]["carriers"] == [world.labels[0]]
    assert entries[0][2]["study_uids"] == [study_in(1).study_uid]
    assert entries[-1][2]["carriers"] == []
    assert all("ZZCANARY" not in json.dumps(payload) for _, _, payload in entries)


def test_refused_and_invalid_lookups_write_no_lookup_event(
    client: TestClient, world: World, engine: Engine
) -> None:
    for params, headers, status in [
        ({"q": "ZZCANARY0001"}, world.auth("station"), 403),
        ({"q": "ZZCANARY0001"}, {}, 401),
        ({"q": ""}, world.auth("clerk"), 422),
        ({"q": "X" * 65}, world.auth("clerk"), 422),
        ({"q": "RAD0000001", "kind": "everything"}, world.auth("clerk"), 422),
    ]:
        r = client.get("/api/v1/where", params=params, headers=headers)
        assert r.status_code == status, r.text
    assert lookups(engine) == []


def test_a_blank_query_is_422_and_not_logged(
    client: TestClient, world: World, engine: Engine
) -> None:
    size = log_size(engine)
    for query in [" ", "   ", "\t"]:
        r = client.get("/api/v1/where", params={"q": query}, headers=world.auth("clerk"))
        assert r.status_code == 422, r.text
        assert r.json()["error"] == "invalid_input"
        assert r.json()["detail"].startswith("Type what to look for")
    assert log_size(engine) == size


def test_reading_a_study_record_is_logged(client: TestClient, world: World, engine: Engine) -> None:
    """The study record carries the patient ID: who read it is in the log (without it)."""
    uid = study_in(2).study_uid
    size = log_size(engine)
    r = client.get(f"/api/v1/studies/{uid}", headers=world.auth("clinician"))
    assert r.status_code == 200, r.text
    assert r.json()["patient_id"] == "ZZCANARY0002"
    assert log_size(engine) == size + 1
    with engine.connect() as conn:
        action, role, payload = conn.execute(
            text("SELECT action, actor_role, payload FROM custody_event ORDER BY seq DESC LIMIT 1")
        ).one()
    assert (action, role) == ("study_read", "clinician")
    assert json.loads(payload) == {"study_uid": uid, "carriers": [world.labels[1]]}
    # An unknown study is a 404 and reads nothing, so nothing is logged.
    r = client.get("/api/v1/studies/1.2.3.4", headers=world.auth("clinician"))
    assert r.status_code == 404
    assert log_size(engine) == size + 1


def test_a_patient_id_under_two_issuers_asks_which(
    client: TestClient, world: World, engine: Engine
) -> None:
    """Two hospitals numbered two patients alike: by the ID alone the answer names both
    issuers; with the issuer it holds that patient's carriers only, and the log says which."""
    other = study_in(9).model_copy(
        update={"patient_id": study_in(1).patient_id, "issuer_of_patient_id": "EASTCLINIC"}
    )
    make_carrier(engine, "EAST0001", study=None)
    with session_scope(engine) as session:
        carrier = carrier_service.get_by_label(session=session, label="EAST0001")
        study_service.link(session=session, principal=SYSTEM, carrier=carrier, studies=[other])
    patient = study_in(1).patient_id
    assert patient is not None
    both = where(client, world, patient)
    assert sorted(h["carrier"]["label"] for h in both["hits"]) == ["EAST0001", world.labels[0]]
    assert both["issuers"] == ["CITYHOSP", "EASTCLINIC"]
    one = where(client, world, patient, issuer="EASTCLINIC")
    assert [h["carrier"]["label"] for h in one["hits"]] == ["EAST0001"]
    assert one["issuers"] == []
    assert lookups(engine)[-1][2]["issuer"] == "EASTCLINIC"
    assert where(client, world, patient, issuer="NOSUCH")["hits"] == []
    # Only one issuer: nothing to choose.
    assert where(client, world, study_in(2).patient_id or "")["issuers"] == []
