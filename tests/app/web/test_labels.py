"""Labels to print, through the ASGI app on both databases: the sheet holds the chosen labels,
and each QR code encodes its carrier's (or shelf's) public URL."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
import segno
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.carriers.schemas import CarrierKind
from app.core.config import Settings
from tests.app.web.test_pages import _log_in
from tests.factories import World, make_carrier

BORDER = 2  # the quiet zone labels.py draws


def _codes(html: str) -> list[str]:
    return re.findall(r'<p class="code">([^<]+)</p>', html)


def _qrs(html: str) -> list[tuple[str, str]]:
    """(data-url, the whole <svg>) of every QR code on the page."""
    return re.findall(r'(<svg role="img" data-url="([^"]+)".*?</svg>)', html, re.S)


def _dark_modules(svg: str) -> set[tuple[int, int]]:
    """The dark modules the SVG path draws (segno: M/m moves, h runs on half rows)."""
    path = re.search(r' d="([^"]+)"', svg)
    assert path is not None
    x = y = 0.0
    dark = set()
    for op, a, b in re.findall(r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?", path.group(1)):
        if op == "M":
            x, y = float(a), float(b)
        elif op == "m":
            x, y = x + float(a), y + float(b)
        else:
            dark |= {(int(x) + i, int(y - 0.5)) for i in range(int(a))}
            x += float(a)
    return dark


def _encodes(svg: str, text: str) -> bool:
    """Does the drawn symbol equal the QR code of ``text`` (module for module)?"""
    expected = segno.make(text, error="m", micro=False)
    wanted = {
        (c + BORDER, r + BORDER)
        for r, row in enumerate(expected.matrix)
        for c, value in enumerate(row)
        if value & 1
    }
    return _dark_modules(svg) == wanted


@pytest.fixture
def clerk(client: TestClient, world: World) -> TestClient:
    _log_in(client, "clerk")
    return client


def test_the_sheet_holds_the_chosen_labels_with_their_qr_codes(
    clerk: TestClient, world: World, settings: Settings
) -> None:
    chosen = [world.labels[2], world.labels[0]]
    r = clerk.get("/labels/sheet", params={"labels": " ".join(chosen).lower(), "size": "case"})
    assert r.status_code == 200, r.text
    assert _codes(r.text) == chosen
    assert "<?xml" not in r.text and settings.SITE_NAME in r.text
    qrs = _qrs(r.text)
    assert [url for _, url in qrs] == [f"{settings.PUBLIC_URL}/c/{x}" for x in chosen]
    for svg, url in qrs:
        assert f"<title>{url.rsplit('/', 1)[1]}</title>" in svg
        assert _encodes(svg, url)
    assert not _encodes(qrs[0][0], qrs[1][1])  # the check can fail


@pytest.mark.parametrize("size", ["case", "spine", "hub"])
def test_every_size_shows_kind_and_set(
    clerk: TestClient, world: World, engine: Engine, size: str
) -> None:
    from app.carriers import service as carrier_service
    from app.core.db import session_scope

    tape = make_carrier(engine, "TAPE0001", kind=CarrierKind.LTO8)
    with session_scope(engine) as session:
        carrier = carrier_service.get_by_label(session=session, label=world.labels[1])
        carrier.set_number, carrier.set_total = 2, 3
        tape_row = carrier_service.get_by_label(session=session, label=tape)
        tape_row.set_number, tape_row.set_total = 1, 2
    r = clerk.get("/labels/sheet", params={"labels": f"{world.labels[1]}\n{tape}", "size": size})
    assert r.status_code == 200
    assert f'class="sheet stock-{size}"' in r.text and f"lbl-{size}" in r.text
    assert "DVD · disc 2 of 3" in r.text and "LTO-8 · tape 1 of 2" in r.text


def test_all_carriers_of_a_shelf_and_unknown_labels(
    clerk: TestClient, world: World, engine: Engine
) -> None:
    elsewhere = make_carrier(engine, "RAD0000099", store=False)
    r = clerk.get("/labels/sheet", params={"labels": "RAD0000099 NOPE0000001 x<y", "shelf": "ARCH"})
    assert r.status_code == 200
    # The named one first, then every carrier whose home is in the archive room, once each.
    assert _codes(r.text) == [elsewhere, *world.labels]
    assert "NOPE0000001, X&lt;Y" in r.text and "X<Y" not in r.text


def test_a_full_sheet_then_the_next(clerk: TestClient, world: World, engine: Engine) -> None:
    labels = [make_carrier(engine, f"RAD{n:07d}", store=False) for n in range(10, 29)]
    r = clerk.get("/labels/sheet", params={"labels": " ".join(world.labels + labels)})
    assert len(_codes(r.text)) == 22
    assert r.text.count('class="sheet stock-case"') == 2  # 21 on the first, 1 on the second
    assert "22 labels · 2 sheets" in r.text
    r = clerk.get("/labels/sheet", params={"labels": " ".join(labels), "size": "spine"})
    assert r.text.count('class="sheet stock-spine"') == 1  # 40 strips a sheet


def test_shelf_labels_open_the_place_page(
    clerk: TestClient, world: World, settings: Settings
) -> None:
    r = clerk.get("/labels/shelves", params={"under": "arch", "codes": "VAULT"})
    assert r.status_code == 200
    assert _codes(r.text) == ["VAULT", "ARCH", "DESK", "SHELF1", "SHELF2"]
    assert "City Hospital / Archive / Shelf 1" in r.text
    for svg, url in _qrs(r.text):
        assert url.startswith(f"{settings.PUBLIC_URL}/locations/") and _encodes(svg, url)
    assert _qrs(r.text)[0][1] == f"{settings.PUBLIC_URL}/locations/{quote('VAULT')}"


def test_the_form_and_who_may_print(client: TestClient, world: World) -> None:
    _log_in(client, "clerk")
    r = client.get("/labels")
    assert r.status_code == 200 and 'action="/labels/sheet"' in r.text
    assert 'href="/labels"' in r.text  # in the navigation
    client.post("/logout", headers={"X-CSRF-Token": _log_in(client, "clerk")})
    for role in ("clinician", "auditor"):
        _log_in(client, role)
        assert client.get("/labels/sheet", params={"labels": world.labels[0]}).status_code == 403
        assert 'href="/labels"' not in client.get("/where").text
