"""The administration and request pages in Chromium, against a real ``mediatrack serve`` on
the demo archive."""

from __future__ import annotations

import json
import sqlite3

import httpx
from playwright.sync_api import expect

from tests.support.browser import PHONE, NewPage, Site, log_in


def _denied(site: Site) -> list[dict[str, str]]:
    with sqlite3.connect(site.data_dir / "mediatrack.db") as db:
        rows = db.execute("SELECT payload FROM custody_event WHERE action = 'denied'").fetchall()
    return [json.loads(row[0]) for row in rows]


class TestAdministration:
    def test_a_clerk_is_refused_an_admin_page(self, site: Site, new_page: NewPage) -> None:
        page = new_page(viewport=PHONE)
        log_in(page, site, "clerk", "/where")
        expect(page.locator("nav")).to_contain_text("Administration")  # borrowers are theirs
        response = page.goto(f"{site.url}/admin/users")
        assert response is not None and response.status == 403
        expect(page.locator("h1")).to_have_text("Not allowed")
        expect(page.locator(".flash.error")).to_contain_text("users.manage")
        assert {"permission": "users.manage", "route": "GET /admin/users"} in _denied(site)

    def test_admin_creates_a_station_and_sees_the_key_once(
        self, site: Site, new_page: NewPage
    ) -> None:
        page = new_page()
        log_in(page, site, "admin", "/admin/stations")
        page.fill("#name", "handheld-7")
        page.select_option("#kind", "handheld")
        page.select_option("#location", "DESK1")
        page.click("text=Create the station")
        expect(page.locator("h1")).to_have_text("Station handheld-7 created")
        expect(page.locator(".flash.info")).to_contain_text("will not be shown again")
        key = page.locator("#api-key").input_value().strip()
        me = httpx.get(f"{site.url}/api/v1/stations/me", headers={"X-API-Key": key})
        assert me.status_code == 200 and me.json()["name"] == "handheld-7"
        page.click("text=Back to the stations")
        row = page.locator("tr", has_text="handheld-7")
        expect(row).to_contain_text("handheld")
        assert key not in page.content()
        page.reload()
        assert key not in page.content()


class TestRequests:
    def test_a_request_fulfilled(self, site: Site, new_page: NewPage) -> None:
        clinician = new_page(viewport=PHONE)
        log_in(clinician, site, "clinician", "/requests")
        clinician.fill("#carrier", "RAD0000001")
        clinician.select_option("#purpose", "TREAT")
        clinician.click("text=Ask for it")
        expect(clinician.locator(".flash.ok")).to_have_text(
            "Your request for RAD0000001 is recorded.")
        row = clinician.locator("tr", has_text="RAD0000001")
        expect(row.locator(".request-state")).to_have_text("waiting to be fetched")

        clerk = new_page()
        log_in(clerk, site, "clerk", "/requests/pull")
        expect(clerk.locator("h1")).to_contain_text("Pull list")
        line = clerk.locator("tr", has_text="RAD0000001")
        expect(line).to_contain_text("Clinician")
        line.locator("button", has_text="Lend RAD0000001 to Clinician").click()
        expect(clerk.locator(".flash.ok")).to_have_text("RAD0000001 is lent to Clinician.")
        expect(clerk.locator("tr", has_text="RAD0000001")).to_have_count(0)

        clinician.reload()
        expect(row.locator(".request-state")).to_have_text("lent to you")
        expect(row.locator("form")).to_have_count(0)  # nothing left to cancel
