"""Browser tests: Debian's Chromium driven by Playwright (launched by its path; nothing is ever
downloaded), against a real ``mediatrack serve`` on a copy of the demo archive.

The demo archive is loaded once per test session (``mediatrack demo``) and copied for each test,
so no test sees another's changes.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.cli import MEDIATRACK
from tests.support.ports import free_port
from tests.support.real import need_executable, unavailable
from tests.support.wait import wait_for

PASSWORD = "demo-password-1"
DESK = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# Chromium as root in a container, offline: no sandbox, no calls home (they are refused here).
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


# Every page a person sees: (name, user, path, what to do there first). The accessibility test
# runs axe-core on each; `make screens` photographs each for docs/screens/.
PAGES: list[tuple[str, str | None, str, str | None]] = [
    ("login", None, "/login", None),
    ("public-carrier", None, "/c/RAD0000001", None),
    ("desk-choose", "clerk", "/desk", None),
    ("desk", "clerk", "/desk", "bind-and-scan"),
    # A tap of a tag no carrier has: the card offers to register it.
    ("desk-unknown-tag", "clerk", "/desk", "tap-unknown-tag"),
    # Registered from that card: the station is asked to write the label (no agent runs here,
    # so the card stays at "writing").
    ("desk-label-job", "clerk", "/desk", "register-unknown-tag"),
    ("where", "clinician", "/where?q=P100752", None),
    ("carrier", "clerk", "/carriers/RAD0000004", None),
    ("place", "clerk", "/locations/CAB01_S1", None),
    ("not-found", "clerk", "/no-such-page", None),
    ("dashboard", "clerk", "/dashboard", None),
    ("list-overdue", "clerk", "/lists/overdue", None),
    ("list-transfers", "clerk", "/lists/transfers", None),
    ("labels", "clerk", "/labels", None),
    ("label-sheet", "clerk", "/labels/sheet?labels=RAD0000001+RAD0000002+RAD0000003", None),
    ("requests-pull", "clerk", "/requests/pull", None),
    ("requests-mine", "clinician", "/requests", None),
    ("inventory", "clerk", "/inventory", None),
    # Started through the form, so the campaign page after it (and campaign 1) exists.
    ("inventory-campaign", "clerk", "/inventory", "start-campaign"),
    ("inventory-report", "clerk", "/inventory/1/report", None),
    ("inventory-phone", "clerk", "/inventory/1/phone", "sweep-a-shelf"),
    ("admin", "admin", "/admin", None),
    ("admin-users", "admin", "/admin/users", None),
    ("admin-stations", "admin", "/admin/stations", None),
    ("admin-locations", "admin", "/admin/locations", None),
    ("admin-borrowers", "admin", "/admin/borrowers", None),
    ("admin-site", "admin", "/admin/site", None),
    ("audit-log", "auditor", "/audit/log", None),
    ("audit-verify", "auditor", "/audit/verify", None),
    ("audit-lookups", "auditor", "/audit/lookups", None),
    ("audit-denied", "auditor", "/audit/denied", None),
]


def prepare(page: Any, site: Site, then: str | None) -> None:
    """Bring a page into the state worth showing (a carrier on the desk, a new campaign)."""
    if then == "bind-and-scan":
        _bind(page)
        page.fill("#scan-field", "RAD0000004")
        page.keyboard.press("Enter")
        page.wait_for_selector("#card .label")
    elif then in ("tap-unknown-tag", "register-unknown-tag"):
        _bind(page)
        # The desk hears of a tap through its event stream: tap once it is open.
        page.wait_for_selector("#live-status.ok")
        n = next(_UNKNOWN)
        uid = f"04C0FFEE{n:04X}80"
        _tap(site, uid, n)
        page.wait_for_selector(f"#card h2:has-text('{uid}')")
        if then == "register-unknown-tag":
            page.fill("#reg-label", f"NEW{n:04d}")
            page.click("#card form:has(#reg-label) button[type=submit]")
            page.wait_for_selector("#label-job")
    elif then == "start-campaign":
        page.fill("#name", "Cabinet 1")
        page.select_option("#scope", "CAB01")
        page.click("form.start-campaign button[type=submit]")
        page.wait_for_selector(".shelf-map")
    elif then == "sweep-a-shelf":
        page.select_option("#shelf-choice", "CAB01_S1")
        page.click("#shelf-form button")
        page.wait_for_selector("#feedback[data-kind=shelf]")


# Unknown tags tapped for the pages above: each visit its own (a site is visited in several
# languages and sizes; a registered label cannot be registered again).
_UNKNOWN = itertools.count(1)


def _bind(page: Any) -> None:
    """Bind the desk to the demo's archive station, unless this browser already is."""
    if page.locator("#station").count():
        page.select_option("#station", "archive-desk-1")
        page.click("#main form button[type=submit]")
    page.wait_for_selector("#scan-field")


def _tap(site: Site, uid: str, n: int) -> None:
    """The demo station reports a tap of ``uid``, as its agent would."""
    read = {"event_id": str(uuid.uuid4()), "station_seq": 1_000_000 + n, "tag_uid": uid,
            "technology": "iso14443a", "read_at": datetime.now(UTC).isoformat()}
    answer = httpx.post(f"{site.url}/api/v1/scans", json={"reads": [read]},
                        headers={"X-API-Key": site.station_key}, timeout=30)
    answer.raise_for_status()


def visit_all(page: Any, site: Site) -> Iterator[str]:
    """Visit every page of PAGES in turn (logging in as its user); yields each page's name."""
    current = None
    for name, user, path, then in PAGES:
        if user != current and user is not None:
            if current is not None:
                page.context.clear_cookies()
            log_in(page, site, user, "/where")
            current = user
        page.goto(f"{site.url}{path}")
        prepare(page, site, then)
        yield name


def clean_env(data_dir: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIATRACK_")}
    env["MEDIATRACK_DATA_DIR"] = str(data_dir)
    env.update({f"MEDIATRACK_{k}": v for k, v in settings.items()})
    return env


@dataclass
class Site:
    """A running ``mediatrack serve`` on its own copy of the demo archive."""

    url: str
    data_dir: Path
    process: subprocess.Popen[str]

    @property
    def station_key(self) -> str:
        return (self.data_dir / "station-archive-desk-1.key").read_text().strip()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


@pytest.fixture(scope="session")
def demo_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("demo") / "data"
    done = subprocess.run([*MEDIATRACK, "demo"], env=clean_env(data), capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return data


def start_site(demo_archive: Path, target: Path, **settings: str) -> Site:
    shutil.copytree(demo_archive, target)
    port = free_port()
    process = subprocess.Popen(
        [*MEDIATRACK, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=clean_env(target, **settings), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if process.poll() is not None:
            out = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"mediatrack serve exited: {out}")
        try:
            return httpx.get(f"{url}/login", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(up, 60, "mediatrack serve to answer")
    return Site(url, target, process)


@pytest.fixture
def site(demo_archive: Path, tmp_path: Path) -> Iterator[Site]:
    running = start_site(demo_archive, tmp_path / "data")
    yield running
    running.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    executable = need_executable("chromium", "chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


NewPage = Callable[..., Any]


@pytest.fixture
def new_page(browser: Any) -> Iterator[NewPage]:
    """Open a page in a fresh browser context (its own cookies) at desk size, in English unless
    a ``locale`` is given."""
    contexts: list[Any] = []

    def _open(
        locale: str = "en-GB", viewport: dict[str, int] | None = None, bypass_csp: bool = False
    ) -> Any:
        # bypass_csp only for tools the test injects (axe-core): the pages' own CSP forbids it.
        context = browser.new_context(locale=locale, viewport=viewport or DESK,
                                      extra_http_headers={"Accept-Language": locale},
                                      bypass_csp=bypass_csp)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield _open
    for context in contexts:
        context.close()


def log_in(page: Any, site: Site, username: str, target: str = "/") -> None:
    page.goto(f"{site.url}/login?next={target}")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("form.stack button[type=submit]")
    page.wait_for_url(re.compile(r"^(?!.*/login).*$"))
