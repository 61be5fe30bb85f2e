"""One campaign over the demo archive, swept by two devices at once: a phone page in Chromium (an
``NDEFReader`` stand-in firing Web NFC's ``reading`` events) and a laptop agent on the real nfcpy
udp stack with emulated tags, against a real ``mediatrack serve`` with a site key.

Between them they meet every class (found, a duplicate counted once, misplaced, unexpected,
unknown, an altered label), sweep two shelves of the archive room and leave the others alone;
the close reports missing exactly the carriers of the two swept shelves that neither device read.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from readers.carrier_label import CarrierLabel, encode_label
from tests.app.web.test_phone import NDEF_READER, feedback, web_nfc_records
from tests.app.web.test_phone import tap as tap_phone
from tests.readers.inventory_sweep import SITE_KEY, UNKNOWN_UID, Agents, Api, tap, udp_tag
from tests.support.browser import PHONE, NewPage, Site, log_in

PHONE_SHELF, PHONE_SHELF_TAG = "CAB01_S1", "04AA0101000001"  # app/demo.py's shelf tags
LAPTOP_SHELF, LAPTOP_SHELF_TAG = "CAB01_S2", "04AA0102000001"
UNSWEPT = "CAB01_S3"


def _records(label: str, uid: str, *, signed_for: str = "") -> list[dict[str, Any]]:
    """A tag's label as the phone page gets it from Web NFC."""
    message = encode_label(CarrierLabel(label, "DVD"), uid=signed_for or uid,
                           public_url="https://archive.example", key=SITE_KEY)
    return web_nfc_records(message)


def _lent(api: Api) -> tuple[str, str]:
    """A carrier out on loan with an NTAG (7-byte UID: the udp emulator's kind)."""
    answer = api.http.get("/carriers", params={"status": "checked_out", "limit": 500})
    answer.raise_for_status()
    return next((c["label"], c["tag"]["uid"]) for c in answer.json()["data"]
                if c["tag"] and len(c["tag"]["uid"]) == 14)


def _in_storage(api: Api, code: str) -> set[str]:
    answer = api.http.get("/carriers", params={"status": "in_storage", "location": code,
                                                "limit": 500})
    answer.raise_for_status()
    return {c["label"] for c in answer.json()["data"]}


def test_a_campaign_swept_by_a_phone_and_a_laptop(
    site: Site, api: Api, sweep_agents: Agents, port: int, new_page: NewPage
) -> None:
    campaign = api.campaign(scope="ARCH")
    on_phone_shelf = api.stored_carriers(PHONE_SHELF)
    on_laptop_shelf = api.stored_carriers(LAPTOP_SHELF)
    (found_label, found_uid), (copy_label, copy_uid) = on_phone_shelf[:2]
    misplaced_label, misplaced_uid = api.stored_carriers("CAB02_S3")[0]
    laptop_label, laptop_uid = on_laptop_shelf[0]
    lent_label, lent_uid = _lent(api)
    swept = _in_storage(api, PHONE_SHELF) | _in_storage(api, LAPTOP_SHELF)
    unswept_before = _in_storage(api, UNSWEPT)
    assert unswept_before

    # The phone sweeps shelf 1.
    page = new_page(viewport=PHONE)
    page.add_init_script(NDEF_READER)
    log_in(page, site, "clerk", f"/inventory/{campaign}/phone")
    page.click("#start")
    expect(page.locator("#nfc-status")).to_contain_text("hold the phone to a shelf tag")
    tap_phone(page, PHONE_SHELF_TAG)
    feedback(page, "shelf", "Shelf")
    tap_phone(page, found_uid, _records(found_label, found_uid))
    feedback(page, "found", "Found")
    tap_phone(page, found_uid, _records(found_label, found_uid))  # read again: counted once
    tap_phone(page, misplaced_uid, _records(misplaced_label, misplaced_uid))
    feedback(page, "misplaced", "Misplaced")
    # Another carrier's tag holding a copy of the first one's label.
    tap_phone(page, copy_uid, _records(found_label, copy_uid, signed_for=found_uid))
    feedback(page, "altered", "Altered label")

    # Meanwhile the laptop sweeps shelf 2.
    agent = sweep_agents(campaign)
    agent.wait_line("Sweep session ")
    tap(agent, udp_tag(LAPTOP_SHELF_TAG, port), port)
    agent.wait_line(f"SHELF {LAPTOP_SHELF_TAG}")
    tap(agent, udp_tag(laptop_uid, port, laptop_label), port)
    agent.wait_line(f"FOUND {laptop_uid} {laptop_label}: ")
    tap(agent, udp_tag(lent_uid, port, lent_label), port)
    agent.wait_line(f"UNEXPECTED {lent_uid} {lent_label}: ")
    tap(agent, udp_tag(UNKNOWN_UID, port), port)
    agent.wait_line(f"UNKNOWN {UNKNOWN_UID}")
    expect(page.locator("#waiting")).to_have_text("0")

    report = api.report(campaign)
    classes = {i["label"]: i["class"] for s in report["shelves"] for i in s["items"]}
    assert classes[found_label] == classes[laptop_label] == "found"
    assert classes[misplaced_label] == "misplaced"
    assert classes[lent_label] == "unexpected"
    assert [u["tag_uid"] for u in report["unknown"]] == [UNKNOWN_UID]
    assert [a["tag_uid"] for a in report["altered"]] == [copy_uid]
    not_seen = {label for label, kind in classes.items() if kind == "not_seen"}
    assert not_seen == swept - {found_label, laptop_label}  # the copy's carrier too
    states = {s["code"]: s["state"] for s in report["shelves"]}
    assert states[UNSWEPT] == "not_swept"
    assert {states[PHONE_SHELF], states[LAPTOP_SHELF]} <= {"swept", "in_progress"}
    assert report["campaign"]["counts"]["found"] == 2  # the duplicate counted once

    closed = api.http.post(f"/inventory/campaigns/{campaign}/close",
                           json={"report_missing": True})
    assert closed.status_code == 200, closed.text
    assert set(closed.json()["reported_missing"]) == not_seen
    assert _in_storage(api, UNSWEPT) == unswept_before  # a partial sweep marks nothing else
    assert not (_in_storage(api, PHONE_SHELF) | _in_storage(api, LAPTOP_SHELF)) & not_seen
