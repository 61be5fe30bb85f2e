"""A label sheet printed to PDF by Chromium: one A4 page per sheet, the labels' text on it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from playwright.sync_api import expect

from tests.support.browser import NewPage, Site, log_in
from tests.support.real import need_executable

# Demo discs RAD0000001 .. RAD0000022 (app/demo.py).
LABELS = [f"RAD{n:07d}" for n in range(1, 23)]


def test_a_sheet_of_22_case_labels_prints_on_two_a4_pages(
    site: Site, new_page: NewPage, tmp_path: Path
) -> None:
    pdftotext = need_executable("pdftotext", "poppler-utils")
    pdfinfo = need_executable("pdfinfo", "poppler-utils")
    page = new_page()
    log_in(page, site, "clerk", "/labels")
    page.goto(f"{site.url}/labels")
    page.fill("#labels", "\n".join(LABELS))
    page.check("#size-case")
    page.click("form[action='/labels/sheet'] button[type=submit]")
    expect(page.locator(".cell")).to_have_count(22)
    # The QR code is drawn at 30 mm (about 113 CSS pixels).
    box = page.locator(".cell .qr-box svg").first.bounding_box()
    assert box is not None and 110 < box["width"] < 117, box
    pdf = tmp_path / "labels.pdf"
    page.pdf(path=str(pdf), format="A4", print_background=True)
    info = subprocess.run([pdfinfo, str(pdf)], capture_output=True, text=True, check=True)
    assert re.search(r"^Pages:\s+2$", info.stdout, re.M), info.stdout
    assert re.search(r"^Page size:.*\(A4\)$", info.stdout, re.M), info.stdout
    text = subprocess.run([pdftotext, "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    first, second = text.split("\f")[:2]
    assert [x for x in LABELS if x in first] == LABELS[:21]
    assert [x for x in LABELS if x in second] == LABELS[21:]
    assert first.count("MediaTrack") == 21 and "DVD" in first
    assert "Labels to print" not in text  # the page's tools are not printed
