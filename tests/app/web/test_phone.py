"""The phone page of an inventory sweep in Chromium, against a real ``mediatrack serve`` on the
demo archive.

Desktop Chromium has no Web NFC, so the page gets an ``NDEFReader`` stand-in (an init script)
that fires ``reading`` events as Chrome on Android does: ``serialNumber`` as lower-case hex
bytes with colons, ``message.records`` with ``recordType`` and ``data`` (a DataView). Everything
behind it is real: IndexedDB, the service worker, the network cut by Playwright, the server and
its database.
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect
from sqlalchemy import Engine
from sqlmodel import select

from app.core.db import session_scope
from app.inventory.models import SweepRead
from readers import carrier_label
from readers.carrier_label import CarrierLabel, encode_label
from tests.app.inventory.test_router import _campaign
from tests.app.web.test_pages import _log_in
from tests.factories import World, tag_uid
from tests.support.browser import PASSWORD, PHONE, NewPage, Site, log_in, start_site
from tests.support.wait import wait_for

SCOPE = "CAB01"
SHELF = "CAB01_S1"
OTHER_SHELF = "CAB02_S3"
UNKNOWN_UID = "04DEADBEEF0001"

NDEF_READER = """
window.NDEFReader = class NDEFReader extends EventTarget {
  async scan() { window.__nfc = this; }
};
window.__tap = (serial, records) => {
  const event = new Event("reading");
  event.serialNumber = serial;
  event.message = { records: (records || []).map((r) => ({
    recordType: r.type,
    data: new DataView(Uint8Array.from(r.bytes).buffer),
  })) };
  window.__nfc.dispatchEvent(event);
};
// What the page asks the phone to vibrate, read by the test.
window.__buzz = [];
navigator.vibrate = (pattern) => { window.__buzz.push(pattern); return true; };
"""


def serial(uid: str) -> str:
    """A UID as Web NFC gives it: lower-case hex bytes separated by colons."""
    return ":".join(uid[i : i + 2] for i in range(0, len(uid), 2)).lower()


@dataclass
class Archive:
    """Facts of the demo archive the test reads from the site's own database."""

    site: Site

    def query(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.site.data_dir / "mediatrack.db") as db:
            return db.execute(sql, args).fetchall()

    def shelf_tag(self, code: str) -> str:
        return str(self.query("SELECT tag_uid FROM location WHERE code = ?", code)[0][0])

    def stored_on(self, code: str, *, home: str | None = None) -> list[tuple[str, str]]:
        """(label, NTAG UID) of the carriers in storage on a shelf, homed on ``home`` if
        given (else on that shelf)."""
        return [
            (label, uid)
            for label, uid in self.query(
                "SELECT c.label, t.uid FROM carrier c JOIN tag t ON t.id = c.tag_id"
                " JOIN location here ON here.id = c.current_location_id"
                " JOIN location home ON home.id = c.home_location_id"
                " WHERE c.status = 'in_storage' AND here.code = ? AND home.code = ?"
                " AND t.uid LIKE '04%' ORDER BY c.label",
                code, home or code,
            )
        ]

    def expected_on(self, code: str) -> int:
        """Carriers the record says are in storage on a shelf: its progress counts these."""
        return int(self.query(
            "SELECT count(*) FROM carrier c JOIN location here ON here.id = c.current_location_id"
            " WHERE c.status = 'in_storage' AND here.code = ?", code)[0][0])

    def reads(self, campaign_id: int) -> list[tuple[str, str | None, str | None]]:
        """(event id, tag UID, label) of every read the server stored for the campaign."""
        return [
            (str(e), u, lbl)
            for e, u, lbl in self.query(
                "SELECT event_id, tag_uid, label FROM inventory_read WHERE campaign_id = ?"
                " ORDER BY id",
                campaign_id,
            )
        ]


def make_campaign(site: Site, scope: str = SCOPE) -> int:
    token = httpx.post(f"{site.url}/api/v1/auth/token",
                       data={"username": "clerk", "password": PASSWORD}).json()["access_token"]
    today = date.today()
    answer = httpx.post(
        f"{site.url}/api/v1/inventory/campaigns",
        headers={"Authorization": f"Bearer {token}"},
        json={"name": "Autumn inventory", "scope": scope, "starts_on": today.isoformat(),
              "ends_on": (today + timedelta(days=7)).isoformat()},
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def open_phone(new_page: NewPage, site: Site, campaign: int, *, nfc: bool = True) -> Any:
    page = new_page(viewport=PHONE)
    if nfc:
        page.add_init_script(NDEF_READER)
    log_in(page, site, "clerk", f"/inventory/{campaign}/phone")
    expect(page.locator("h1")).to_contain_text("Autumn inventory")
    return page


def start_reading(page: Any) -> None:
    page.click("#start")
    expect(page.locator("#nfc-status")).to_contain_text("hold the phone to a shelf tag")


def tap(page: Any, uid: str, records: list[dict[str, Any]] | None = None) -> None:
    page.evaluate("([s, r]) => window.__tap(s, r)", [serial(uid), records or []])


def web_nfc_records(message: bytes) -> list[dict[str, Any]]:
    """An NDEF message's records as Web NFC gives them to a page (the agent's own conversion,
    readers.carrier_label.web_nfc_records), with the payload as bytes for the stand-in."""
    return [{"type": kind, "bytes": list(bytes.fromhex(data))}
            for kind, data in carrier_label.web_nfc_records(message)]


def feedback(page: Any, kind: str, word: str) -> None:
    expect(page.locator("#feedback")).to_have_attribute("data-kind", kind)
    expect(page.locator("#feedback-word")).to_have_text(word)


def worker_controls(page: Any) -> None:
    """Wait until the service worker controls the page (it then answers its reloads)."""
    page.evaluate("navigator.serviceWorker.ready")
    wait_for(lambda: page.evaluate("!!navigator.serviceWorker.controller"), 20,
             "the service worker to control the page")


@pytest.fixture
def archive(site: Site) -> Archive:
    return Archive(site)


class TestSweep:
    def test_a_shelf_tag_then_carriers_found_misplaced_unknown(
        self, site: Site, archive: Archive, new_page: NewPage
    ) -> None:
        campaign = make_campaign(site)
        at_home = archive.stored_on(SHELF)
        misplaced_label, misplaced_uid = archive.stored_on(OTHER_SHELF)[0]
        assert len(at_home) >= 2
        page = open_phone(new_page, site, campaign)
        expect(page.locator("#no-nfc")).to_be_hidden()
        start_reading(page)

        tap(page, archive.shelf_tag(SHELF))
        feedback(page, "shelf", "Shelf")
        # Named from the campaign's scope down, as the chooser lists it.
        expect(page.locator("#shelf-name")).to_have_text("Cabinet 1 / Shelf 1")
        expect(page.locator("#shelf-choice option")).to_have_count(5)
        expected = archive.expected_on(SHELF)
        expect(page.locator("#shelf-count")).to_have_text(
            f"0 of {expected} expected carriers seen")

        label, uid = at_home[0]
        tap(page, uid)
        feedback(page, "found", "Found")
        expect(page.locator("#feedback-detail")).to_contain_text(label)
        expect(page.locator("#shelf-count")).to_have_text(
            f"1 of {expected} expected carriers seen")
        expect(page.locator("#shelf-progress")).to_have_attribute("value", "1")

        # The same carrier again counts once.
        tap(page, uid)
        feedback(page, "found", "Found")
        expect(page.locator("#feedback-detail")).to_contain_text("Already read")
        expect(page.locator("#shelf-count")).to_have_text(
            f"1 of {expected} expected carriers seen")

        tap(page, misplaced_uid)  # at home on another shelf, read on this one
        feedback(page, "misplaced", "Misplaced")
        expect(page.locator("#feedback-detail")).to_contain_text(misplaced_label)

        tap(page, UNKNOWN_UID)
        feedback(page, "unknown", "Unknown tag")
        # Each answer buzzes its own rhythm after the short tick of the read itself.
        buzzes = page.evaluate("window.__buzz")
        assert [b for b in buzzes if b != [30]] == [
            [40, 60, 40], [80], [80], [200, 100, 200], [500]]
        expect(page.locator("#feedback")).to_have_class("feedback fb-unknown")
        expect(page.locator("#recent li")).to_have_count(5)
        expect(page.locator("#waiting")).to_have_text("0")

        reads = archive.reads(campaign)
        assert len(reads) == 5
        assert sorted(u for _, u, _ in reads if u) == sorted(
            [archive.shelf_tag(SHELF), uid, uid, misplaced_uid, UNKNOWN_UID])

    def test_fifty_reads_offline_and_a_reload_are_delivered_once(
        self, site: Site, archive: Archive, new_page: NewPage
    ) -> None:
        campaign = make_campaign(site)
        page = open_phone(new_page, site, campaign)
        worker_controls(page)
        start_reading(page)
        tap(page, archive.shelf_tag(SHELF))
        feedback(page, "shelf", "Shelf")

        # The basement: no network. Fifty carriers of the archive, each read once.
        uids = [uid for (uid,) in archive.query(
            "SELECT uid FROM tag WHERE uid LIKE '04%80' ORDER BY uid LIMIT 50")]
        assert len(uids) == 50
        page.context.set_offline(True)
        for uid in uids:
            tap(page, uid)
        expect(page.locator("#waiting")).to_have_text("50")
        expect(page.locator("#network")).to_contain_text("No network")
        feedback(page, "queued", "Read: waiting to be sent")

        # The page reloads with no network: the service worker serves it, IndexedDB kept the
        # reads.
        page.reload()
        expect(page.locator("h1")).to_contain_text("Autumn inventory")
        expect(page.locator("#waiting")).to_have_text("50")
        assert len(archive.reads(campaign)) == 1  # only the shelf, read online

        page.context.set_offline(False)
        expect(page.locator("#waiting")).to_have_text("0", timeout=60_000)
        expect(page.locator("#network")).to_be_hidden()
        reads = archive.reads(campaign)
        carriers = [u for _, u, _ in reads if u != archive.shelf_tag(SHELF)]
        assert sorted(carriers) == sorted(uids)  # every one once, none twice
        assert len({e for e, _, _ in reads}) == len(reads) == 51

    def test_an_expired_log_in_keeps_the_reads_until_the_next_one(
        self, site: Site, archive: Archive, new_page: NewPage
    ) -> None:
        campaign = make_campaign(site)
        page = open_phone(new_page, site, campaign)
        start_reading(page)
        tap(page, archive.shelf_tag(SHELF))
        feedback(page, "shelf", "Shelf")

        page.context.clear_cookies()  # as when the session went idle on the server
        label, uid = archive.stored_on(SHELF)[0]
        tap(page, uid)
        expect(page.locator("#login-again")).to_have_text(
            "Log in again to deliver 1 waiting reads.")
        expect(page.locator("#waiting")).to_have_text("1")

        page.click("#login-link")
        page.fill("#username", "clerk")
        page.fill("#password", PASSWORD)
        page.click("form.stack button[type=submit]")
        expect(page).to_have_url(f"{site.url}/inventory/{campaign}/phone")
        expect(page.locator("#waiting")).to_have_text("0")
        expect(page.locator("#login-again")).to_be_hidden()
        assert [u for _, u, _ in archive.reads(campaign)] == [archive.shelf_tag(SHELF), uid]


class TestLabels:
    def test_a_label_copied_onto_another_tag_is_reported_altered(
        self, demo_archive: Any, tmp_path: Any, new_page: NewPage
    ) -> None:
        key = bytes(range(32))
        (tmp_path / "site.keys").write_text(f"1 {key.hex()}\n")
        site = start_site(demo_archive, tmp_path / "data",
                          SITE_KEYS_FILE=str(tmp_path / "site.keys"))
        try:
            archive = Archive(site)
            (label, uid), (_, other_uid) = archive.stored_on(SHELF)[:2]
            genuine = web_nfc_records(encode_label(
                CarrierLabel(label, "DVD"), uid=uid, public_url=site.url, key=key))
            campaign = make_campaign(site)
            page = open_phone(new_page, site, campaign)
            start_reading(page)
            tap(page, archive.shelf_tag(SHELF))
            feedback(page, "shelf", "Shelf")
            tap(page, uid, genuine)
            feedback(page, "found", "Found")
            # The same label bytes on another tag: its MAC covers the first tag's UID.
            tap(page, other_uid, genuine)
            feedback(page, "altered", "Altered label")
            # A phone that withholds the serial number: the label in our record names it.
            page.evaluate("([r]) => window.__tap('', r)", [genuine])
            feedback(page, "found", "Found")
            expect(page.locator("#feedback-detail")).to_contain_text(f"Already read · {label}")
            sent = archive.query(
                "SELECT tag_uid, label, read_class FROM inventory_read WHERE campaign_id = ?"
                " ORDER BY id", campaign)
            assert sent[1:] == [(uid, label, "found"), (other_uid, None, "altered"),
                                (None, label, "found")]
        finally:
            site.stop()


class TestWithoutWebNfc:
    def test_says_so_and_takes_typed_labels_and_shelves(
        self, site: Site, archive: Archive, new_page: NewPage
    ) -> None:
        campaign = make_campaign(site)
        page = open_phone(new_page, site, campaign, nfc=False)
        expect(page.locator("#no-nfc")).to_contain_text("This browser cannot read NFC tags")
        expect(page.locator("#start")).to_be_hidden()

        page.select_option("#shelf-choice", SHELF)
        page.click("#shelf-form button")
        feedback(page, "shelf", "Shelf")
        label, _ = archive.stored_on(SHELF)[0]
        page.fill("#label-field", label.lower())
        page.keyboard.press("Enter")
        feedback(page, "found", "Found")
        expect(page.locator("#label-field")).to_be_focused()
        expect(page.locator("#label-field")).to_have_value("")

        # A shelf label's QR code, typed by a scanner: the shelf's page.
        page.fill("#label-field", f"{site.url}/locations/CAB01_S2")
        page.keyboard.press("Enter")
        feedback(page, "shelf", "Shelf")
        expect(page.locator("#shelf-name")).to_have_text("Cabinet 1 / Shelf 2")
        # A carrier label's QR code: its public page.
        page.fill("#label-field", f"{site.url}/c/{label}")
        page.keyboard.press("Enter")
        feedback(page, "misplaced", "Misplaced")

        page.fill("#label-field", "not a label!")
        page.keyboard.press("Enter")
        feedback(page, "rejected", "Not recognised")
        assert [(u, lbl) for _, u, lbl in archive.reads(campaign)] == [
            (None, None), (None, label), (None, None), (None, label)]


    def test_opened_from_a_shelfs_page_it_starts_on_that_shelf_once(
        self, site: Site, archive: Archive, new_page: NewPage
    ) -> None:
        campaign = make_campaign(site)
        page = open_phone(new_page, site, campaign, nfc=False)
        # The link a place's page (/locations/CAB01_S3) offers for each open campaign.
        page.goto(f"{site.url}/inventory/{campaign}/phone?shelf=CAB01_S3")
        feedback(page, "shelf", "Shelf")
        expect(page.locator("#shelf-name")).to_have_text("Cabinet 1 / Shelf 3")
        expect(page.locator("#shelf-choice")).to_have_value("CAB01_S3")
        expect(page).to_have_url(f"{site.url}/inventory/{campaign}/phone")
        page.reload()
        expect(page.locator("#shelf-name")).to_have_text("Cabinet 1 / Shelf 3")  # kept
        # The next shelf: had the reload read shelf 3 again, that read would go before it.
        page.select_option("#shelf-choice", "CAB01_S4")
        page.click("#shelf-form button")
        expect(page.locator("#shelf-name")).to_have_text("Cabinet 1 / Shelf 4")
        expect(page.locator("#waiting")).to_have_text("0")
        assert len(archive.reads(campaign)) == 2


class TestRoutes:
    """The page's routes through the ASGI app, on SQLite and PostgreSQL."""

    def test_the_page_lists_the_scopes_shelves(self, client: TestClient, world: World) -> None:
        campaign = _campaign(client, world)
        _log_in(client, "clerk")
        page = client.get(f"/inventory/{campaign}/phone")
        assert page.status_code == 200
        # The shelves of the scope, named from it down; the desk is no shelf.
        assert re.findall(r'<option value="(\w+)">([^<]+)</option>', page.text) == [
            ("SHELF1", "Archive / Shelf 1"), ("SHELF2", "Archive / Shelf 2")]
        assert client.get("/inventory/999/phone").status_code == 404

    def test_reads_are_taken_once_and_answered_in_json(
        self, client: TestClient, world: World, engine: Engine
    ) -> None:
        campaign = _campaign(client, world)
        token = _log_in(client, "clerk")
        sweep = str(uuid.uuid4())
        reads = [
            {"event_id": str(uuid.uuid4()), "session": sweep, "read_at": f"2026-11-29T10:0{n}:00Z",
             "device": "phone", **subject}
            for n, subject in enumerate([{"location": "SHELF1"}, {"tag_uid": tag_uid(1)},
                                         {"label": world.labels[1]}])
        ]
        json_headers = {"Accept": "application/json", "X-CSRF-Token": token}
        first = client.post(f"/inventory/{campaign}/reads", json={"reads": reads},
                            headers=json_headers)
        assert first.status_code == 200, first.text
        answer = first.json()
        assert [r["class"] for r in answer["results"]] == ["shelf", "found", "found"]
        assert answer["shelf"] == {"code": "SHELF1", "path": "City Hospital / Archive / Shelf 1",
                                   "expected": 3, "seen": 2}
        # Delivered again (the answer was lost on the way): the stored answers, nothing new.
        again = client.post(f"/inventory/{campaign}/reads", json={"reads": reads},
                            headers=json_headers).json()
        assert [r["replayed"] for r in again["results"]] == [True, True, True]
        assert [r["class"] for r in again["results"]] == ["shelf", "found", "found"]
        with session_scope(engine) as session:
            stored = session.exec(select(SweepRead).where(SweepRead.campaign_id == campaign))
            assert len(list(stored)) == 3

        bad = client.post(f"/inventory/{campaign}/reads", json={"reads": [{"event_id": "x"}]},
                          headers=json_headers)
        assert bad.status_code == 422 and bad.json()["error"] == "invalid_input"
        # Without the CSRF header: refused, in JSON.
        forged = client.post(f"/inventory/{campaign}/reads", json={"reads": reads},
                             headers={"Accept": "application/json"})
        assert forged.status_code == 403 and forged.json()["error"] == "csrf_failed"

    def test_logged_out_or_not_a_sweeper(self, client: TestClient, world: World) -> None:
        campaign = _campaign(client, world)
        # Logged out, a read is answered 401 in JSON (the page then says "log in again"),
        # not a redirect to the log-in page; the page itself still redirects.
        answer = client.post(f"/inventory/{campaign}/reads", json={"reads": []},
                             headers={"Accept": "application/json"})
        assert answer.status_code == 401 and answer.json()["error"] == "login_required"
        assert client.get("/inventory/sw.js", follow_redirects=False).status_code == 303
        # An auditor reads inventories; sweeping is not theirs.
        _log_in(client, "auditor")
        assert client.get(f"/inventory/{campaign}/phone").status_code == 403
        assert client.get("/inventory/sw.js").status_code == 403

    def test_the_worker_is_served_for_its_scope(self, client: TestClient, world: World) -> None:
        _log_in(client, "clerk")
        worker = client.get("/inventory/sw.js")
        assert worker.status_code == 200
        assert worker.headers["content-type"].startswith("text/javascript")
        assert "const VERSION" in worker.text
        # Every asset it keeps for offline use exists.
        assets = re.findall(r'"(/static/[^"]+)"', worker.text)
        assert "/static/phone.js" in assets
        for asset in assets:
            assert client.get(asset).status_code == 200, asset
