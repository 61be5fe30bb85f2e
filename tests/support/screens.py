"""Screenshots of every page, in both languages, at desk and phone size, into docs/screens/.

Run ``make screens`` (or ``python -m tests.support.screens``): it loads the demo archive into a
temporary folder, starts ``mediatrack serve`` on it and drives Debian's chromium through
Playwright. Nothing is downloaded.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.support.browser import (
    CHROMIUM_ARGS,
    DESK,
    MEDIATRACK,
    PHONE,
    clean_env,
    start_site,
    visit_all,
)

OUT = Path(__file__).resolve().parents[2] / "docs" / "screens"


def main() -> int:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with tempfile.TemporaryDirectory() as tmp:
        demo = Path(tmp) / "demo"
        subprocess.run([*MEDIATRACK, "demo"], env=clean_env(demo), check=True,
                       capture_output=True)
        site = start_site(demo, Path(tmp) / "site")
        OUT.mkdir(parents=True, exist_ok=True)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium,
                                                     args=CHROMIUM_ARGS)
                for locale, lang in (("en-GB", "en"), ("zh-CN", "zh")):
                    for size, size_name in ((DESK, "desk"), (PHONE, "phone")):
                        context = browser.new_context(
                            locale=locale, viewport=size,
                            extra_http_headers={"Accept-Language": locale},
                        )
                        page = context.new_page()
                        for name in visit_all(page, site):
                            target = OUT / f"{name}-{lang}-{size_name}.png"
                            page.screenshot(path=str(target))
                            print(target.relative_to(OUT.parents[1]))
                        context.close()
                browser.close()
        finally:
            site.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
