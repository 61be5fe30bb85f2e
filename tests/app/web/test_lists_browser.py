"""The dashboard and every list on a phone (390 x 844): nothing wider than the screen."""

from __future__ import annotations

from playwright.sync_api import expect

from app.web.lists import LISTS
from tests.support.browser import PHONE, NewPage, Site, log_in

WIDER_THAN_SCREEN = "document.documentElement.scrollWidth > document.documentElement.clientWidth"


def test_the_dashboard_and_the_lists_fit_a_phone(site: Site, new_page: NewPage) -> None:
    page = new_page(viewport=PHONE)
    log_in(page, site, "clerk", "/dashboard")
    page.goto(f"{site.url}/dashboard")
    expect(page.locator("svg[data-chart=states]")).to_be_visible()
    # The demo archive: eight open loans, one overdue, one in transit, one missing, one hold.
    expect(page.locator("[data-list=loans] .count")).to_have_text("8")
    expect(page.locator("[data-list=overdue] .count")).to_have_text("1")
    assert not page.evaluate(WIDER_THAN_SCREEN), "the dashboard is wider than the phone"
    for name in LISTS:
        page.goto(f"{site.url}/lists/{name}")
        expect(page.locator(".tabs [aria-current=page]")).to_have_attribute(
            "href", f"/lists/{name}"
        )
        assert not page.evaluate(WIDER_THAN_SCREEN), f"/lists/{name} is wider than the phone"
    page.goto(f"{site.url}/lists/loans")
    expect(page.locator("table.list tbody tr")).to_have_count(8)
