"""The auditor's pages in Chromium, against a real ``mediatrack serve`` on the demo archive."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.support.browser import NewPage, Site, log_in

CARRIER = "RAD0000001"  # a demo carrier (app/demo.py) with a history


def test_an_auditor_filters_the_log_and_verifies_it(site: Site, new_page: NewPage) -> None:
    page = new_page()
    log_in(page, site, "auditor", "/audit/log")
    expect(page).to_have_url(f"{site.url}/audit/log")
    expect(page.locator("nav[aria-label=Main] a[aria-current=page]")).to_have_text("Audit")
    expect(page.locator(".audit-table tbody tr").first).to_be_visible()

    page.fill("#f-carrier", CARRIER.lower())
    page.click(".audit-filter button[type=submit]")
    expect(page).to_have_url(re.compile(rf"carrier={CARRIER.lower()}"))
    expect(page.locator("#f-carrier")).to_have_value(CARRIER)
    labels = page.locator(".audit-table tbody td a.mono")
    expect(labels.first).to_have_text(CARRIER)
    assert set(labels.all_inner_texts()) == {CARRIER}
    expect(page.locator(".audit-exports a")).to_have_count(2)

    # The verification in Chinese: the button sends the form (with its empty file field).
    page.click("text=简体中文")
    expect(page.locator("h1")).to_have_text("保管日志")
    page.click(".audit-tabs a[href='/audit/verify']")
    expect(page.locator("h1")).to_have_text("校验")
    page.click("form.verify-form button[type=submit]")
    result = page.locator(".verify-result")
    expect(result).to_contain_text("日志完好")
    expect(result).to_contain_text(re.compile(r"共 \d+ 条记录，链头哈希 [0-9a-f]{64}"))
