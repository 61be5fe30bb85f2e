"""The pages in Chromium, against a real ``mediatrack serve`` on the demo archive."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

import httpx
from playwright.sync_api import expect

from readers.carrier_label import LabelCheck, decode_label
from readers.emulators.tags import Ntag21x
from tests.readers.agent_process import AgentProcess
from tests.readers.stacks import PcscStack
from tests.support.browser import PHONE, NewPage, Site, log_in, start_site
from tests.support.wait import wait_for

# Demo carrier 1 carries an NTAG with this UID (app/demo.py); it is in storage.
DEMO_TAG_1 = "04000000000180"


def _bind_desk(page: Any, site: Site) -> None:
    page.goto(f"{site.url}/desk")
    page.select_option("#station", "archive-desk-1")
    page.click("text=Use this station")
    expect(page.locator("#scan-field")).to_be_focused()


class TestSession:
    def test_log_in_and_out(self, site: Site, new_page: NewPage) -> None:
        page = new_page()
        page.goto(site.url)
        expect(page).to_have_url(f"{site.url}/login")
        page.fill("#username", "clinician")
        page.fill("#password", "wrong password")
        page.click("form.stack button[type=submit]")
        expect(page.locator(".flash.error")).to_have_text("Wrong user name or password.")
        log_in(page, site, "clinician")
        expect(page).to_have_url(f"{site.url}/where")
        expect(page.locator(".who")).to_contain_text("clinician")
        cookie = next(c for c in page.context.cookies() if c["name"] == "mediatrack_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        page.click("text=Log out")
        expect(page).to_have_url(f"{site.url}/login")
        page.goto(f"{site.url}/where")
        expect(page).to_have_url(re.compile(r"/login\?next=/where$"))

    def test_a_forged_form_is_refused(self, site: Site, new_page: NewPage) -> None:
        page = new_page()
        log_in(page, site, "clerk", "/where")
        page.goto(f"{site.url}/where")
        # Another site's form cannot know the token: a wrong one must be refused.
        page.evaluate("document.querySelector('form.inline input[name=csrf_token]').value = 'x'")
        page.click("text=Log out")
        expect(page.locator(".flash.error")).to_contain_text("did not come from this site")
        page.goto(f"{site.url}/where")
        expect(page).to_have_url(f"{site.url}/where")  # still logged in: nothing happened

    def test_an_idle_session_ends(
        self, demo_archive: Any, tmp_path: Any, new_page: NewPage
    ) -> None:
        site = start_site(demo_archive, tmp_path / "idle", SESSION_IDLE_MINUTES="0.02")
        try:
            page = new_page()
            log_in(page, site, "clerk", "/where")
            cookies = {c["name"]: c["value"] for c in page.context.cookies()}

            def expired() -> bool:
                # The cookie as it was at log-in: the server ends it once idle long enough.
                r = httpx.get(f"{site.url}/where", cookies=cookies, follow_redirects=False)
                return r.status_code == 303 and "expired" in r.headers["location"]

            wait_for(expired, 30, "the idle session to end")
            page.goto(f"{site.url}/where")
            expect(page.locator(".flash.info")).to_contain_text("without activity")
        finally:
            site.stop()


class TestDesk:
    def test_a_tap_shows_the_carrier_then_lend_and_take_back(
        self, site: Site, new_page: NewPage, pcsc: PcscStack, place: Any, tmp_path: Any
    ) -> None:
        page = new_page()
        log_in(page, site, "clerk")
        _bind_desk(page, site)
        expect(page.locator("#live-status")).to_contain_text("Connected")
        agent = AgentProcess(reader="pcsc://", server=site.url, key=site.station_key,
                             outbox=tmp_path / "outbox.db", env=pcsc.env,
                             extra=("--max-backoff", "1"))
        agent.start()
        try:
            tag = place(Ntag21x(uid=bytes.fromhex(DEMO_TAG_1)))
            card = page.locator("#card")
            expect(card.locator(".label")).to_have_text("RAD0000001")
            expect(card.locator(".status").first).to_have_text("in storage")
            expect(page.locator("#scan-field")).to_be_focused()
            card.locator("#borrower").fill("Dr Wang")
            option = page.locator("#borrower-list option").first.get_attribute("value")
            card.locator("#borrower").fill(option or "")
            card.locator("#purpose").select_option("TREAT")
            card.locator("text=Lend out").last.click()
            expect(card.locator(".flash.ok")).to_have_text("Lent out.")
            expect(card.locator(".where")).to_contain_text("Lent to")
            expect(page.locator("#scan-field")).to_be_focused()
            tag.lift()
            wait_for(lambda: pcsc.slot_empty(0, 0), 5, "pcscd to see the tag lifted")
            tag.place()
            agent.wait_line("#2 04000000000180 seen")
            expect(card.locator("button", has_text="Take back")).to_be_visible()
            card.locator("button", has_text="Take back").click()
            expect(card.locator(".flash.ok")).to_have_text("Taken back.")
            expect(card.locator(".status").first).to_have_text("in storage")
        finally:
            agent.stop()

    def test_an_unknown_tag_is_registered_then_labelled_by_the_station(
        self, demo_archive: Any, new_page: NewPage, pcsc: PcscStack, place: Any, tmp_path: Any
    ) -> None:
        keys = tmp_path / "site.keys"
        keys.write_text(f"7 {bytes(range(32)).hex()}\n")
        site = start_site(demo_archive, tmp_path / "data", SITE_KEYS_FILE=str(keys))
        page = new_page()
        agent = AgentProcess(reader="pcsc://", server=site.url, key=site.station_key,
                             outbox=tmp_path / "outbox.db", env=pcsc.env,
                             extra=("--max-backoff", "1"))
        try:
            log_in(page, site, "clerk")
            _bind_desk(page, site)
            expect(page.locator("#live-status")).to_contain_text("Connected")
            agent.start()
            tag = place(Ntag21x(uid=bytes.fromhex("04C0FFEE000180")))
            card = page.locator("#card")
            expect(card.locator("h2")).to_contain_text("Unknown tag 04C0FFEE000180")
            card.locator("#reg-label").fill("new0042")
            card.locator("#reg-kind").select_option("BD")
            card.locator("button", has_text="Register").click()
            expect(card.locator(".label")).to_have_text("NEW0042")
            expect(card.locator("#label-job .flash.ok")).to_have_text(
                "Label written on the tag and read back.")
            agent.wait_line("label NEW0042 written on 04C0FFEE000180")
            reading = decode_label(_ndef_of(tag.tag.memory), uid="04C0FFEE000180",
                                   keys={7: bytes(range(32))})
            assert reading.check is LabelCheck.GENUINE
            assert reading.carrier is not None and reading.carrier.kind == "BD"
            assert reading.uri is not None and reading.uri.endswith("/c/NEW0042")
        finally:
            agent.stop()
            site.stop()

    def test_a_wedge_scan_typed_into_the_field(self, site: Site, new_page: NewPage) -> None:
        page = new_page()
        log_in(page, site, "clerk")
        _bind_desk(page, site)
        page.keyboard.type("rad0000002")  # a barcode scanner types, then presses Enter
        page.keyboard.press("Enter")
        expect(page.locator("#card .label")).to_have_text("RAD0000002")
        expect(page.locator("#scan-field")).to_be_focused()
        page.keyboard.type("not a thing!")
        page.keyboard.press("Enter")
        expect(page.locator("#card .flash.error")).to_contain_text("neither a carrier label")

    def test_an_overdue_loan_says_so(self, site: Site, new_page: NewPage) -> None:
        page = new_page()
        log_in(page, site, "clerk")
        _bind_desk(page, site)
        page.fill("#scan-field", "RAD0000004")  # the demo's overdue loan
        page.keyboard.press("Enter")
        expect(page.locator("#card .status.overdue")).to_contain_text("overdue by")

    def test_a_three_disc_set_returned_incomplete(self, site: Site, new_page: NewPage) -> None:
        """The demo's set SET0025 is RAD0000025-27 (discs 1-3 of 3)."""
        page = new_page()
        log_in(page, site, "clerk")
        _bind_desk(page, site)
        card = page.locator("#card")
        for label in ("RAD0000025", "RAD0000026", "RAD0000027"):
            page.fill("#scan-field", label)
            page.keyboard.press("Enter")
            expect(card.locator(".label")).to_have_text(label)
            card.locator("#borrower").fill(
                page.locator("#borrower-list option").first.get_attribute("value") or "")
            card.locator("text=Lend out").last.click()
            expect(card.locator(".flash.ok")).to_have_text("Lent out.")
        for label in ("RAD0000025", "RAD0000026"):
            page.fill("#scan-field", label)
            page.keyboard.press("Enter")
            expect(card.locator(".label")).to_have_text(label)
            card.locator("button", has_text="Take back").click()
            expect(card.locator(".flash.ok")).to_have_text("Taken back.")
        expect(card.locator(".set-out")).to_have_text(
            "Still out from this set: RAD0000027 (disc 3 of 3)")

    def test_dispatch_three_and_receive(self, site: Site, new_page: NewPage) -> None:
        page = new_page()
        log_in(page, site, "clerk")
        _bind_desk(page, site)
        labels = _three_on_one_shelf(site)
        for label in labels:
            page.fill("#scan-field", label)
            page.keyboard.press("Enter")
            expect(page.locator("#card .label")).to_have_text(label)
            page.locator("#card button", has_text="Add to the dispatch list").click()
            expect(page.locator("#card .flash.ok")).to_contain_text("Added to the dispatch")
        expect(page.locator("#basket h2")).to_have_text("Dispatch list: 3 carriers")
        page.select_option("#dispatch-to", "EAST_CAB")
        page.fill("#seal", "00451")
        page.locator("#basket button", has_text="Dispatch").first.click()
        expect(page.locator("#card .flash.ok")).to_contain_text("Dispatched 3 carriers")
        page.fill("#scan-field", labels[1])
        page.keyboard.press("Enter")
        expect(page.locator("#card .where")).to_contain_text("Seal 00451")
        page.locator("#card button", has_text="Receive here").click()
        expect(page.locator("#card .flash.ok")).to_have_text("Received.")
        expect(page.locator("#card .where")).to_contain_text("Cabinet E1")


def _ndef_of(memory: bytes | bytearray) -> bytes:
    """The NDEF message on an NTAG's user memory: the NDEF Message TLV (type 0x03, one length
    byte) from page 4 on (NFC Forum Type 2 Tag 1.0, 2.3)."""
    assert memory[16] == 0x03, memory[16:20].hex()
    return bytes(memory[18:18 + memory[17]])


def _three_on_one_shelf(site: Site) -> list[str]:
    """Three demo carriers in storage on one shelf (one dispatch leaves from one place)."""
    with sqlite3.connect(site.data_dir / "mediatrack.db") as db:
        rows = db.execute(
            "SELECT current_location_id, label FROM carrier WHERE status = 'in_storage' "
            "AND NOT legal_hold ORDER BY label"
        ).fetchall()
    by_place: dict[int, list[str]] = {}
    for place, label in rows:
        by_place.setdefault(place, []).append(label)
    return next(labels[:3] for labels in by_place.values() if len(labels) >= 3)


class TestWhereIsIt:
    def test_by_patient_id_in_chinese(self, site: Site, new_page: NewPage) -> None:
        page = new_page(locale="zh-CN", viewport=PHONE)
        log_in(page, site, "clinician")
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        page.fill("#q", "P100752")
        page.click("form.search button")
        expect(page.locator(".hits .hit").first).to_be_visible()
        expect(page.locator(".hits .where").first).to_contain_text("存放于")
        expect(page.get_by_role("status").first).to_contain_text("找到")
        assert "P100752" not in page.url  # posted: not in the address bar nor the history

    def test_the_language_can_be_switched(self, site: Site, new_page: NewPage) -> None:
        page = new_page(locale="en-GB")
        log_in(page, site, "clinician")
        page.click("text=简体中文")
        expect(page.locator("h1")).to_have_text("在哪里？")


class TestApiDocs:
    def test_docs_work_offline(self, site: Site, new_page: NewPage) -> None:
        page = new_page()
        elsewhere: list[str] = []
        # Every answer comes from this site (ReDoc also starts a worker from a blob: of the page;
        # its footer logo on a CDN is blocked by the page's CSP and never answered).
        page.on("response", lambda r: None if r.url.startswith((site.url, f"blob:{site.url}"))
                else elsewhere.append(r.url))
        page.goto(f"{site.url}/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("MediaTrack")
        page.goto(f"{site.url}/redoc")
        expect(page.locator("h1").first).to_contain_text("MediaTrack")
        assert elsewhere == []
