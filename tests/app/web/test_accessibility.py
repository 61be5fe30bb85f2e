"""axe-core (vendored from its npm package, tests/support/vendor) on every page, in both
languages, at desk and phone size: no serious or critical violation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import PHONE, NewPage, Site, visit_all

AXE = Path(__file__).parents[2] / "support" / "vendor" / "axe-core-4.14.1" / "axe.min.js"


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
    visited = []
    for size in (None, PHONE):
        page = new_page(locale=locale, viewport=size, bypass_csp=True)
        for name in visit_all(page, site):
            visited.append(name)
            problems = _violations(page)
            if problems:
                found[f"{name} at {size or 'desk size'}"] = problems
    assert "desk" in visited and found == {}
