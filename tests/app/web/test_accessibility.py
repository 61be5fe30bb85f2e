"""axe-core (vendored from its npm package, tests/support/vendor) on every page, in both
languages: no serious or critical violation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import PHONE, NewPage, Site, log_in

AXE = Path(__file__).parents[2] / "support" / "vendor" / "axe-core-4.14.1" / "axe.min.js"

# (user, path, what to do on the page first) for every page a person sees.
PAGES: list[tuple[str | None, str, str | None]] = [
    (None, "/login", None),
    ("clerk", "/desk", None),  # the station chooser
    ("clerk", "/desk", "bound"),  # the desk with a carrier on it
    ("clerk", "/where?q=P100752", None),
    ("clerk", "/carriers/RAD0000004", None),
    ("clerk", "/no-such-page", None),
]


def _violations(page: Any) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("locale", ["en-GB", "zh-CN"])
def test_no_serious_violations(site: Site, new_page: NewPage, locale: str) -> None:
    found: dict[str, list[str]] = {}
    for size in (None, PHONE):
        page = new_page(locale=locale, viewport=size, bypass_csp=True)
        current = None
        for user, path, then in PAGES:
            if user != current and user is not None:
                log_in(page, site, user, "/where")
                current = user
            page.goto(f"{site.url}{path}")
            if then == "bound":
                page.select_option("#station", "archive-desk-1")
                page.click("#main form button[type=submit]")
                page.fill("#scan-field", "RAD0000004")
                page.keyboard.press("Enter")
                page.wait_for_selector("#card .label")
            problems = _violations(page)
            if problems:
                found[f"{path} {then or ''} {size or 'desk'}"] = problems
    assert found == {}
