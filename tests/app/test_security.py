"""Headers every answer carries, and cross-origin requests left closed (no CORS middleware)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.factories import World

EVIL = "https://evil.example"


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("GET", "/api/v1/carriers", "clerk"),  # an answer
        ("GET", "/api/v1/users", "clerk"),  # 403
        ("GET", "/api/v1/carriers", "anonymous"),  # 401
        ("GET", "/api/v1/nothing-here", "clerk"),  # 404
        ("POST", "/api/v1/carriers", "clerk"),  # 422
        ("GET", "/login", "anonymous"),  # a page
        ("GET", "/docs", "anonymous"),  # the API documentation
    ],
)
def test_every_answer_carries_the_security_headers(
    method: str, path: str, role: str, client: TestClient, world: World
) -> None:
    r = client.request(method, path, json={} if method == "POST" else None,
                       headers=world.auth(role))
    directives = dict(
        d.strip().split(" ", 1) for d in r.headers["content-security-policy"].split(";")
    )
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert directives["script-src"] == "'self'"  # no inline script, even on /docs
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "same-origin"
    assert r.headers["cache-control"] == "no-store"


def test_cors_is_closed_no_preflight_is_granted(client: TestClient, world: World) -> None:
    """No CORS middleware: a browser on another origin gets no Access-Control-Allow-* header,
    so it may neither send the preflighted request nor read any answer."""
    preflight = client.options(
        "/api/v1/carriers",
        headers={
            "Origin": EVIL,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code in (401, 405)
    assert not any(h.startswith("access-control-") for h in preflight.headers)


@pytest.mark.parametrize("role", ["clerk", "station"])
def test_cors_is_closed_no_answer_is_shared(role: str, client: TestClient, world: World) -> None:
    r = client.get("/api/v1/carriers", headers={**world.auth(role), "Origin": EVIL})
    assert r.status_code == 200
    assert not any(h.startswith("access-control-") for h in r.headers)


def test_no_request_names_an_address_for_the_server_to_fetch(client: TestClient) -> None:
    """Server-side request forgery needs an address from the caller: no parameter or body
    field takes one (the PACS is the only outbound peer, and only the settings name it)."""
    schema = client.get("/openapi.json").json()
    names: list[str] = []
    for operations in schema["paths"].values():
        for operation in operations.values():
            names += [p["name"] for p in operation.get("parameters", [])]
    for component in schema["components"]["schemas"].values():
        for name, prop in component.get("properties", {}).items():
            names.append(name)
            assert prop.get("format") != "uri", name
    words = ("url", "uri", "host", "endpoint", "callback", "webhook")
    assert [n for n in names if any(w in n.lower() for w in words)] == []
