"""PHI canary: patient IDs of the test world start with ZZCANARY (tests/factories.py).

A representative set of requests (lookups by patient ID and accession, reads, errors, scans)
runs against the app served by a real uvicorn on loopback, with every log of the service,
uvicorn and SQLAlchemy captured at DEBUG. No canary may show up in a log record, in an error
body, or in the custody log (a lookup keeps only a keyed digest of what was asked).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine, text

from app.core.config import Settings
from tests.factories import World, study_in, tag_uid

CANARY = "ZZCANARY"
LOGGERS = ("mediatrack", "uvicorn", "uvicorn.access", "uvicorn.error", "sqlalchemy")


@dataclass
class Served:
    url: str
    stop: Callable[[], None]


@pytest.fixture
def served(app: FastAPI) -> Iterator[Served]:
    """The app under a real uvicorn (its access log included), on a loopback port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # connections queue here until uvicorn accepts them: no wait needed
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, log_level="debug", lifespan="off")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()

    def stop() -> None:
        """Shut down and wait: every request is then finished, and so is its logging."""
        uv.should_exit = True
        thread.join(timeout=30)
        assert not thread.is_alive(), "uvicorn did not stop"

    try:
        yield Served(f"http://127.0.0.1:{port}", stop)
    finally:
        stop()
        sock.close()


def _canary_in(record: logging.LogRecord) -> bool:
    parts = [record.getMessage(), record.exc_text or ""]
    if record.exc_info and record.exc_info[1] is not None:
        parts.append(repr(record.exc_info[1]))
    return any(CANARY in part for part in parts)


def test_no_canary_in_logs_errors_or_custody_log(
    served: Served,
    world: World,
    engine: Engine,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    patient = study_in(1).patient_id
    assert patient is not None and patient.startswith(CANARY)
    clerk, clinician = world.auth("clerk"), world.auth("clinician")
    responses: list[httpx.Response] = []

    with httpx.Client(base_url=served.url, timeout=30) as http:

        def call(method: str, url: str, **kwargs: object) -> httpx.Response:
            r = http.request(method, url, **kwargs)  # type: ignore[arg-type]
            responses.append(r)
            assert r.status_code < 500, r.text
            return r

        # Lookups by patient ID (typed, guessed, lower-case, unknown), accession and study.
        r = call(
            "GET", "/api/v1/where", params={"q": patient, "kind": "patient"}, headers=clinician
        )
        assert [h["carrier"]["label"] for h in r.json()["hits"]] == [world.labels[0]]
        r = call("GET", "/api/v1/where", params={"q": patient}, headers=clerk)
        assert r.json()["kind"] == "patient" and len(r.json()["hits"]) == 1
        call("GET", "/api/v1/where", params={"q": patient.lower()}, headers=clerk)
        r = call("GET", "/api/v1/where", params={"q": f"{CANARY}9999"}, headers=clerk)
        assert r.json()["hits"] == []
        r = call("GET", "/api/v1/where", params={"q": "ACC00002"}, headers=clinician)
        assert r.json()["kind"] == "accession"
        uid = study_in(3).study_uid
        call("GET", "/api/v1/where", params={"q": uid}, headers=clinician)
        r = call("GET", f"/api/v1/studies/{uid}", headers=clinician)
        assert r.status_code == 200
        # Errors that carry a patient ID in the request.
        call("GET", "/api/v1/where", params={"q": CANARY + "X" * 70}, headers=clerk)  # too long
        call("GET", "/api/v1/where", params={"q": patient, "kind": "nonsense"}, headers=clerk)
        call("GET", "/api/v1/where", params={"q": patient}, headers=world.auth("station"))
        call("GET", "/api/v1/where", params={"q": patient})
        long_id = {**study_in(40).model_dump(mode="json"), "patient_id": CANARY + "Y" * 70}
        bad_modality = {**study_in(41).model_dump(mode="json"), "modalities": ["C-T"]}
        extra_name = {**study_in(42).model_dump(mode="json"), "patient_name": f"{CANARY}^DOE"}
        bad_uid = {**study_in(43).model_dump(mode="json"), "study_uid": f"1.2.{CANARY}"}
        for study in (long_id, bad_modality, extra_name, bad_uid):
            call(
                "POST",
                f"/api/v1/carriers/{world.labels[0]}/studies",
                json={"studies": [study]},
                headers=clerk,
            )
        call("POST", "/api/v1/carriers", content=f'{{"label": "{CANARY}', headers=clerk)
        # A patient ID typed where a label or a location code belongs.
        call("GET", f"/api/v1/carriers/{CANARY}0001", headers=clerk)
        call("GET", "/api/v1/carriers", params={"location": f"{CANARY}0001"}, headers=clerk)
        # Re-linking a study with its patient ID: an update through the service.
        again = study_in(2).model_dump(mode="json")
        r = call(
            "POST",
            f"/api/v1/carriers/{world.labels[1]}/studies",
            json={"studies": [again]},
            headers=clerk,
        )
        assert r.status_code == 200
        # Scans: a carrier with studies, a malformed UID, a UID of no carrier.
        now = datetime.now(UTC).isoformat()
        reads = [
            {
                "event_id": str(uuid.uuid4()),
                "station_seq": seq,
                "tag_uid": uid_text,
                "technology": "iso14443a",
                "read_at": now,
            }
            for seq, uid_text in [(1, tag_uid(1)), (2, f"{CANARY}01"), (3, "04AABBCCDDEE80")]
        ]
        r = call("POST", "/api/v1/scans", json={"reads": reads}, headers=world.auth("station"))
        assert [x["outcome"] for x in r.json()["results"]] == [
            "seen",
            "rejected",
            "unregistered_tag",
        ]
        assert all(CANARY not in x["message"] for x in r.json()["results"])
        # The log of lookups, read by an auditor.
        call("GET", "/api/v1/audit/events", params={"limit": 500}, headers=world.auth("auditor"))
    served.stop()  # every request finished, and logged

    errors = [r for r in responses if r.status_code >= 400]
    assert len(errors) >= 9
    for r in errors:
        assert set(r.json()) == {"error", "detail"}, r.text
        assert CANARY not in r.text, f"{r.request.method} {r.request.url.path}: {r.text}"

    names = {record.name.split(".")[0] for record in caplog.records}
    assert {"uvicorn", "sqlalchemy"} <= names, "the logs were not captured"
    access = [r for r in caplog.records if r.name == "uvicorn.access"]
    assert len(access) == len(responses), "every request leaves one access-log line"
    hits = [f"{r.name}: {r.getMessage()[:200]}" for r in caplog.records if _canary_in(r)]
    assert hits == [], "\n".join(hits)

    with engine.connect() as conn:
        rows = conn.execute(text("SELECT action, payload FROM custody_event ORDER BY seq"))
        events = [(action, json.loads(payload)) for action, payload in rows]
    assert all(CANARY not in json.dumps(payload) for _, payload in events)
    lookups = [payload for action, payload in events if action == "lookup"]
    assert len(lookups) == 6  # the refused and invalid lookups wrote no lookup entry
    digest = hmac.new(settings.secret_key.encode(), patient.encode(), hashlib.sha256).hexdigest()
    assert lookups[0]["query_digest"] == digest
    assert lookups[0]["carriers"] == [world.labels[0]]


def test_an_unexpected_error_logs_no_patient_data(
    served: Served,
    world: World,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A failure whose text holds a patient ID (as a driver's error may quote a value)
    answers a plain 500 and leaves the ID out of every log, uvicorn's included."""
    from app.lookup import service as lookup_service

    def broken(**_: object) -> object:
        raise RuntimeError(f"cannot compare patient_id with {CANARY}0001")

    monkeypatch.setattr(lookup_service, "where", broken)
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    with httpx.Client(base_url=served.url, timeout=30) as http:
        r = http.get("/api/v1/where", params={"q": "RAD0000001"}, headers=world.auth("clerk"))
    served.stop()  # the server may still be logging after it answered
    assert r.status_code == 500
    assert r.json() == {
        "error": "internal_error",
        "detail": "Something went wrong on the server; nothing was saved.",
    }
    logged = [rec for rec in caplog.records if rec.name == "mediatrack"]
    assert any("RuntimeError" in rec.getMessage() for rec in logged)
    hits = [f"{r.name}: {r.getMessage()[:200]}" for r in caplog.records if _canary_in(r)]
    assert hits == [], "\n".join(hits)


def test_typed_values_in_paths_are_masked_in_the_access_log() -> None:
    from app.core.logs import masked_path

    assert masked_path("/api/v1/carriers/ZZCANARY1/checkout?x=1") == "/api/v1/carriers/…/checkout"
    assert masked_path("/locations/ZZCANARY1") == "/locations/…"
    assert masked_path("/c/RAD0000001") == "/c/…"
    assert masked_path("/api/v1/studies/1.2.3") == "/api/v1/studies/…"
    assert masked_path("/api/v1/users/ZZCANARY1/deactivate") == "/api/v1/users/…/deactivate"
    assert masked_path("/api/v1/stations/ZZCANARY1/revoke") == "/api/v1/stations/…/revoke"
    assert (
        masked_path("/api/v1/inventory/campaigns/3/reads") == "/api/v1/inventory/campaigns/3/reads"
    )
