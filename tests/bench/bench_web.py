"""Web benchmark: how long a tap takes to reach the desk page, and how long pages take to render.

    .venv/bin/python -m tests.bench.bench_web [--taps 200] [--carriers 1000000]

1. Tap to screen: ``mediatrack serve`` on the demo archive, the desk page open in Debian's
   chromium (Playwright) and bound to the demo station. Each tap is a real
   ``POST /api/v1/scans`` with the station's key; the time runs from just before the request is
   sent to the moment a MutationObserver in the page sees the new card (both clocks are this
   machine's). Taps alternate between two carriers so every tap changes the card.
2. Render time at archive scale: a database seeded with N carriers (tests.bench.bench_service's
   bulk seed), the app in process, each page request timed whole through the ASGI interface
   (authentication, queries, template, logging of the lookup included): the desk's carrier card,
   the carrier page and "where is it?" by patient ID.

Prints Markdown tables for docs/performance.md. Nothing here is asserted by a test.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.core.db import make_engine, session_scope
from app.core.migrations import upgrade
from app.core.principal import SYSTEM
from app.main import create_app
from app.users import service as user_service
from app.users.schemas import UserCreate
from tests.bench.bench_service import pct, seed
from tests.support.browser import CHROMIUM_ARGS, DESK, MEDIATRACK, clean_env, start_site

# Demo carriers 1 and 2 (app/demo.py): NTAGs with these UIDs.
TAGS = {"RAD0000001": "04000000000180", "RAD0000002": "04000000000280"}
WATCH = """
window.__shown = [];
new MutationObserver(() => {
  const label = document.querySelector('#card .label');
  if (label) window.__shown.push({t: performance.timeOrigin + performance.now(),
                                  label: label.textContent});
}).observe(document.getElementById('card'), {childList: true, subtree: true});
"""


def tap_to_screen(taps: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        demo = Path(tmp) / "demo"
        subprocess.run([*MEDIATRACK, "demo"], env=clean_env(demo), check=True,
                       capture_output=True)
        site = start_site(demo, Path(tmp) / "site")
        samples: list[float] = []
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                    args=CHROMIUM_ARGS,
                )
                # bypass_csp: the measuring script is injected by the benchmark, not the page.
                page = browser.new_context(viewport=DESK, bypass_csp=True).new_page()
                page.goto(f"{site.url}/login")
                page.fill("#username", "clerk")
                page.fill("#password", "demo-password-1")
                page.click("form.stack button[type=submit]")
                page.wait_for_url(re.compile(r"/desk$"))
                page.select_option("#station", "archive-desk-1")
                page.click("#main form button[type=submit]")
                page.wait_for_selector("#live-status.ok")
                page.evaluate(WATCH)
                headers = {"X-API-Key": site.station_key}
                with httpx.Client(base_url=f"{site.url}/api/v1", headers=headers) as api:
                    seq = int(api.get("/stations/me").json()["last_seq"])
                    for i in range(taps):
                        label = list(TAGS)[i % 2]
                        read = {"event_id": str(uuid.uuid4()), "station_seq": seq + i + 1,
                                "tag_uid": TAGS[label], "technology": "iso14443a",
                                "read_at": datetime.now(UTC).isoformat()}
                        sent = time.time() * 1000
                        api.post("/scans", json={"reads": [read]}).raise_for_status()
                        page.wait_for_function(f"window.__shown.length > {i}")
                        shown = page.evaluate(f"window.__shown[{i}]")
                        assert shown["label"] == label, shown
                        samples.append(shown["t"] - sent)
                browser.close()
        finally:
            site.stop()
    return samples


def render_times(carriers: int, runs: int) -> dict[str, list[float]]:
    workdir = Path(tempfile.mkdtemp(prefix="mt-bench-web-"))
    try:
        settings = Settings(DATA_DIR=workdir, SECRET_KEY="b" * 40)
        engine = make_engine(settings.database_url)
        upgrade(engine)
        print(f"Seeding {carriers:,} carriers ...", flush=True)
        seed(engine, carriers)
        with session_scope(engine) as session:
            user_service.create(session=session, user_in=UserCreate(
                username="clerk", display_name="Clerk", role="clerk", password="bench-password-1"),
                by=SYSTEM)
        engine.dispose()
        app = create_app(settings)
        times: dict[str, list[float]] = {"desk card": [], "carrier page": [], "where": []}
        with TestClient(app) as client:
            form = client.get("/login").text
            token = re.search(r'name="csrf_token" value="([^"]+)"', form)
            assert token is not None
            client.post("/login", data={"username": "clerk", "password": "bench-password-1",
                                        "csrf_token": token.group(1)})
            client.cookies.set("mediatrack_desk", "bench")
            for i in range(runs):
                n = 1 + (i * 7919) % carriers  # spread over the archive
                for name, path in (("desk card", f"/desk/carriers/RAD{n:09d}"),
                                   ("carrier page", f"/carriers/RAD{n:09d}"),
                                   ("where", f"/where?q=P{n // 3:08d}")):
                    t0 = time.perf_counter()
                    r = client.get(path)
                    times[name].append((time.perf_counter() - t0) * 1000)
                    assert r.status_code == 200, (path, r.status_code)
        return times
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--taps", type=int, default=200)
    parser.add_argument("--carriers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    if args.taps:
        taps = tap_to_screen(args.taps)
        print("\n| from POST /api/v1/scans to the desk's DOM | median | p99 | max |")
        print("|---|---|---|---|")
        print(f"| {len(taps)} taps | {pct(taps, 0.5):.1f} ms | {pct(taps, 0.99):.1f} ms | "
              f"{max(taps):.1f} ms |")
    if args.runs:
        times = render_times(args.carriers, args.runs)
        print(f"\n| page, {args.carriers:,} carriers, {args.runs} requests | median | p99 |")
        print("|---|---|---|")
        for name, samples in times.items():
            print(f"| {name} | {pct(samples, 0.5):.1f} ms | {pct(samples, 0.99):.1f} ms |")


if __name__ == "__main__":
    main()
