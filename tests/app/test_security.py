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


def test_the_document_gives_one_error_body_for_every_error_status(client: TestClient) -> None:
    """Every 4xx/5xx a route documents is ErrorPublic ({"error", "detail"}); FastAPI's own
    HTTPValidationError (a list) is gone; the statuses every route of a kind answers are there."""
    schema = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            errors = {s: r for s, r in responses.items() if s[0] in "45"}
            refs = {r["content"]["application/json"]["schema"]["$ref"] for r in errors.values()}
            assert refs == {"#/components/schemas/ErrorPublic"}, (method, path)
            assert "422" in errors and ("404" in errors or "{" not in path), (method, path)
            assert ("401" in errors and "403" in errors) or path.endswith("/auth/token")
            assert "requestBody" not in operation or "413" in errors, (method, path)
            assert method != "get" or "409" not in errors, (method, path)


def test_the_document_lists_the_sites_purposes_as_they_are(
    client: TestClient, world: World
) -> None:
    purpose = client.get("/openapi.json").json()["components"]["schemas"]["Purpose"]
    assert purpose["enum"] == ["TREAT", "ETREAT", "PATRQT", "HLEGAL", "HOPERAT", "HRESCH"]


def test_a_method_a_path_lacks_names_all_it_takes(client: TestClient, world: World) -> None:
    """Starlette named only the first route's methods (OPTIONS /audit/verify said GET)."""
    for method in ("OPTIONS", "PUT", "DELETE"):
        r = client.request(method, "/api/v1/audit/verify", headers=world.auth("auditor"))
        assert r.status_code == 405 and r.headers["allow"] == "GET, POST"
        assert r.json()["error"] == "method_not_allowed"
