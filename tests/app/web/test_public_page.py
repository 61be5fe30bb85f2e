"""The page a phone opens from a carrier's tag: what the tag says and how to return it,
nothing more, without a log-in."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import World


def test_known_carrier_page(client: TestClient, world: World) -> None:
    r = client.get(f"/c/{world.labels[0]}")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert f"DVD {world.labels[0]}" in r.text
    assert "hand it to the hospital" in r.text
    # No study, patient or location data on a public page.
    assert "ZZCANARY" not in r.text and "1.2.826" not in r.text and "Shelf" not in r.text


def test_unknown_and_malformed_labels(client: TestClient, world: World) -> None:
    assert client.get("/c/NOSUCH").status_code == 404
    bad = client.get("/c/<script>")
    assert bad.status_code == 404 and "<script>" not in bad.text
