"""The auditor's pages through the ASGI app on both databases: the filtered log (and its own
log entry), verification before and after tampering, checkpoints, "who looked it up",
refused attempts, PREMIS/ATNA exports, and a clerk refused all of it."""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.core.config import Settings
from tests.app.audit.test_tamper import tamper
from tests.app.web.test_pages import _log_in
from tests.factories import World, study_in

PATIENT = study_in(1).patient_id  # on the world's first carrier


def _seqs(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<th scope="row" class="seq">(\d+)</th>', html)]


def _labels(html: str) -> set[str]:
    body = html.split("<tbody>", 1)[-1]
    return set(re.findall(r'class="mono">(RAD\d+)<', body))


def _payloads(engine: Engine, action: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT payload FROM custody_event WHERE action = :a ORDER BY seq"), {"a": action}
        ).scalars().all()
    return [json.loads(p) for p in rows]


@pytest.fixture
def auditor(client: TestClient, world: World) -> tuple[TestClient, str]:
    return client, _log_in(client, "auditor")


class TestLog:
    def test_the_whole_log_newest_first(self, auditor: tuple[TestClient, str]) -> None:
        client, _ = auditor
        r = client.get("/audit/log")
        assert r.status_code == 200
        seqs = _seqs(r.text)
        assert seqs and seqs == sorted(seqs, reverse=True)
        assert "put in storage" in r.text and 'href="/audit/log"' in r.text

    def test_filters_narrow_it(
        self, auditor: tuple[TestClient, str], world: World, settings: Settings
    ) -> None:
        client, _ = auditor
        first, second = world.labels[0], world.labels[1]
        by_carrier = client.get("/audit/log", params={"carrier": first.lower()}).text
        assert _labels(by_carrier) == {first} and second not in by_carrier.split("<tbody>")[1]
        stored = client.get("/audit/log", params={"action": "store"}).text
        assert _labels(stored) == set(world.labels)
        assert len(_seqs(stored)) == len(world.labels)
        today = datetime.now(ZoneInfo(settings.TIMEZONE)).date().isoformat()  # the site's day
        assert len(_seqs(client.get("/audit/log", params={"from": today, "to": today}).text)) > 3
        old = client.get("/audit/log", params={"from": "2001-01-01", "to": "2001-12-31"}).text
        assert _seqs(old) == [] and "No entry of the log matches." in old

    def test_by_person(self, client: TestClient, world: World) -> None:
        _log_in(client, "clerk")
        client.get("/where", params={"q": world.labels[2]})
        _log_in(client, "auditor")
        r = client.get("/audit/log", params={"user": "clerk"}).text
        assert len(_seqs(r)) == 1 and "looked up" in r and world.labels[2] in r
        assert _seqs(client.get("/audit/log", params={"user": "admin"}).text) == []

    @pytest.mark.parametrize(
        ("params", "status", "sentence"),
        [
            ({"carrier": "RAD9999999"}, 404, "No carrier is registered under that label."),
            ({"carrier": "not a label!"}, 422, "is not a carrier label"),
            ({"user": "nobody"}, 404, "There is no user called nobody."),
            ({"action": "teleport"}, 422, "The log has no action called teleport."),
            ({"from": "2024-13-01"}, 422, "2024-13-01 is not a date"),
            ({"from": "2024-03-02", "to": "2024-03-01"}, 422, "The first date comes after"),
        ],
    )
    def test_an_unknown_filter_is_refused_never_ignored(
        self, auditor: tuple[TestClient, str], params: dict[str, str], status: int, sentence: str
    ) -> None:
        client, _ = auditor
        r = client.get("/audit/log", params=params)
        assert r.status_code == status and sentence in r.text
        assert "<tbody>" not in r.text

    def test_the_refusal_is_translated(self, auditor: tuple[TestClient, str]) -> None:
        client, _ = auditor
        r = client.get("/audit/log", params={"user": "nobody"},
                       headers={"Accept-Language": "zh-CN"})
        assert r.status_code == 404 and "nobody" in r.text
        assert "There is no user" not in r.text and re.search("[\u4e00-\u9fff]", r.text)

    def test_reading_is_logged_once_per_query(
        self, auditor: tuple[TestClient, str], world: World, engine: Engine
    ) -> None:
        client, _ = auditor
        before = len(_payloads(engine, "log_read"))
        r = client.get("/audit/log", params={"carrier": world.labels[0], "action": "store"})
        reads = _payloads(engine, "log_read")
        assert len(reads) == before + 1
        assert reads[-1] == {"filters": {"carrier": world.labels[0], "action": "store"},
                             "count": len(_seqs(r.text))}
        # An older page of the same query is not a new reading.
        client.get("/audit/log", params={"carrier": world.labels[0], "before": 5})
        assert len(_payloads(engine, "log_read")) == before + 1

    def test_older_pages_follow_the_cursor(
        self, auditor: tuple[TestClient, str], engine: Engine, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        client, _ = auditor
        monkeypatch.setattr("app.web.audit.PAGE_SIZE", 4)
        first = client.get("/audit/log").text
        older = re.search(r'href="/audit/log\?([^"]+)" rel="next"', first)
        assert older is not None
        second = client.get("/audit/log?" + older.group(1).replace("&amp;", "&")).text
        assert len(_seqs(first)) == 4 and _seqs(second)[0] == _seqs(first)[-1] - 1


class TestVerify:
    def _verify(self, client: TestClient, token: str, **files: Any) -> str:
        r = client.post("/audit/verify", data={"csrf_token": token}, files=files or None)
        assert r.status_code == 200, r.text
        return r.text

    def test_intact_then_the_first_bad_entry(
        self, auditor: tuple[TestClient, str], engine: Engine
    ) -> None:
        client, token = auditor
        html = self._verify(client, token)
        with engine.connect() as conn:
            # The verification is logged right after it: its entry follows the verified head.
            seq, head = conn.execute(text(
                "SELECT seq, prev_hash FROM custody_event WHERE action = 'log_verified'")).one()
        size = seq - 1
        assert f"The log is intact: {size} entries, head hash {head}." in html
        assert _payloads(engine, "log_verified")[-1] == {
            "ok": True, "size": size, "first_bad_seq": None}
        tamper(engine, "UPDATE custody_event SET payload = :p WHERE seq = 3",
               params={"p": '{"label":"RAD0000099"}'})
        html = self._verify(client, token)
        assert "First bad entry #3." in html and "entry 3 was altered" in html
        assert "intact" not in html

    def test_a_browser_form_without_a_file_verifies(
        self, auditor: tuple[TestClient, str]
    ) -> None:
        client, token = auditor
        html = self._verify(client, token, checkpoint=("", b"", "application/octet-stream"))
        assert "The log is intact" in html

    def test_without_the_csrf_token_nothing_runs(
        self, auditor: tuple[TestClient, str], engine: Engine
    ) -> None:
        client, _ = auditor
        r = client.post("/audit/verify", data={})
        assert r.status_code == 403 and _payloads(engine, "log_verified") == []

    def test_a_checkpoint_downloads_and_verifies(self, auditor: tuple[TestClient, str]) -> None:
        client, token = auditor
        r = client.post("/audit/checkpoint", data={"csrf_token": token})
        assert r.status_code == 200
        assert r.headers["content-disposition"].startswith("attachment; filename=")
        checkpoint = r.json()
        assert set(checkpoint) == {"origin", "size", "head", "signed_at", "key_id",
                                   "public_key", "signature"}
        html = self._verify(client, token, checkpoint=("cp.json", r.content, "application/json"))
        assert "The log is intact" in html and "It matches the checkpoint signed on" in html
        forged = json.dumps({**checkpoint, "size": checkpoint["size"] + 100}).encode()
        html = self._verify(client, token, checkpoint=("cp.json", forged, "application/json"))
        assert "signature does not verify" in html

    def test_a_file_that_is_no_checkpoint_is_refused(
        self, auditor: tuple[TestClient, str]
    ) -> None:
        client, token = auditor
        for body in (b"not json", b'{"size": "x"}'):
            r = client.post("/audit/verify", data={"csrf_token": token},
                            files={"checkpoint": ("cp.json", body, "application/json")})
            assert r.status_code == 422 and ("not a checkpoint" in r.text
                                             or "Check these fields" in r.text)


class TestLookups:
    def test_a_lookup_made_on_the_where_page_is_found(
        self, client: TestClient, world: World, engine: Engine, caplog: pytest.LogCaptureFixture
    ) -> None:
        _log_in(client, "clerk")
        assert world.labels[0] in client.get("/where", params={"q": f" {PATIENT} "}).text
        token = _log_in(client, "auditor")
        caplog.set_level(logging.DEBUG)
        r = client.post("/audit/lookups", data={"q": PATIENT, "csrf_token": token})
        assert not any(PATIENT in record.getMessage() for record in caplog.records)
        assert r.status_code == 200
        rows = r.text.split("<tbody>", 1)[1]
        assert len(_seqs(r.text)) == 1 and "clerk" in rows and world.labels[0] in rows
        assert "patient ID" in rows
        # The text typed is nowhere: not on the page, not in the log (only its digest).
        assert PATIENT not in r.text
        with engine.connect() as conn:
            payloads = conn.execute(text("SELECT payload FROM custody_event")).scalars().all()
        assert not any(PATIENT in p for p in payloads)
        digest = re.search(r'<code class="digest">([0-9a-f]{64})</code>', r.text)
        assert digest is not None
        api = client.get("/api/v1/audit/query-digest", params={"q": PATIENT},
                         headers=world.auth("auditor"))
        assert api.json()["query_digest"] == digest.group(1)
        assert {"query_digest": digest.group(1)} in _payloads(engine, "log_read")

    def test_nobody_looked_it_up(self, auditor: tuple[TestClient, str]) -> None:
        client, token = auditor
        r = client.post("/audit/lookups", data={"q": "ZZNEVER", "csrf_token": token})
        assert r.status_code == 200 and "Nobody has looked this text up." in r.text

    def test_an_empty_or_long_text_is_refused(self, auditor: tuple[TestClient, str]) -> None:
        client, token = auditor
        for q in ("  ", "x" * 65):
            r = client.post("/audit/lookups", data={"q": q, "csrf_token": token})
            assert r.status_code == 422 and "at most 64 characters" in r.text
            assert q.strip() == "" or q not in r.text


def test_refused_attempts_are_listed(client: TestClient, world: World) -> None:
    _log_in(client, "clerk")
    assert client.get("/audit/log").status_code == 403
    _log_in(client, "auditor")
    r = client.get("/audit/denied")
    assert r.status_code == 200
    rows = r.text.split("<tbody>", 1)[1]
    assert "clerk" in rows and "audit.read" in rows and "GET /audit/log" in rows


class TestExport:
    @pytest.mark.parametrize(("fmt", "route"), [("premis", "premis"), ("atna", "atna")])
    def test_the_preservation_apis_document(
        self, auditor: tuple[TestClient, str], world: World, fmt: str, route: str
    ) -> None:
        client, _ = auditor
        label = world.labels[0]
        r = client.get("/audit/export", params={"carrier": label.lower(), "format": fmt})
        assert r.status_code == 200
        assert r.headers["content-disposition"] == f'attachment; filename="{label}-{fmt}.json"'
        api = client.get(f"/api/v1/carriers/{label}/history/{route}",
                         headers=world.auth("auditor"))
        assert r.json() == api.json()

    def test_the_log_filtered_by_a_carrier_links_its_exports(
        self, auditor: tuple[TestClient, str], world: World
    ) -> None:
        client, _ = auditor
        html = client.get("/audit/log", params={"carrier": world.labels[0]}).text
        assert f"/audit/export?carrier={world.labels[0]}&amp;format=atna" in html

    def test_an_unknown_carrier_or_format_is_refused(
        self, auditor: tuple[TestClient, str]
    ) -> None:
        client, _ = auditor
        r = client.get("/audit/export", params={"carrier": "RAD9999999"})
        assert r.status_code == 404 and "No carrier is registered under that label." in r.text
        r = client.get("/audit/export", params={"carrier": "RAD0000001", "format": "xml"})
        assert r.status_code == 422 and "PREMIS or ATNA" in r.text


PAGES = [("GET", "/audit/log"), ("GET", "/audit/verify"), ("GET", "/audit/lookups"),
         ("GET", "/audit/denied"), ("GET", "/audit/export?carrier=RAD0000001"),
         ("POST", "/audit/verify"), ("POST", "/audit/checkpoint"), ("POST", "/audit/lookups")]


def test_a_clerk_is_refused_every_audit_page(
    client: TestClient, world: World, engine: Engine
) -> None:
    token = _log_in(client, "clerk")
    assert 'href="/audit/log"' not in client.get("/where").text  # no menu entry either
    for method, path in PAGES:
        r = client.request(method, path, data={"csrf_token": token, "q": PATIENT})
        assert r.status_code == 403, (method, path)
        assert "audit." in r.text
    assert len(_payloads(engine, "denied")) == len(PAGES)
    assert _payloads(engine, "log_read") == [] and _payloads(engine, "log_verified") == []


def test_an_auditor_has_the_menu_entry(auditor: tuple[TestClient, str]) -> None:
    client, _ = auditor
    html = client.get("/audit/verify").text
    assert '<a href="/audit/log" aria-current="page">' in html  # the menu's "Audit"
    assert ">Audit<" in html
