"""The OpenAPI document, made true to what the service answers.

FastAPI documents a 422 as its own ``HTTPValidationError`` (a list) and no other error; every
error of this service is one body, ``ErrorPublic`` (app.core.errors). The statuses every route of
a kind can answer are added here from facts of the operation, so no route can forget them:

- 422 on every route (a query, path or body refused; a NUL in the address);
- 401 on every route that takes a token or a station key (and on the log-in form), 403 on every
  route that takes one (the permission table);
- 404 on every route with a path parameter (the thing named is not there);
- 413 on every route with a request body (``app.main.BodyLimit``).

Other statuses (404 for a thing named in a body or a query, 409, 429, 502) are declared by the
routes that answer them, with :func:`errors`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse

from app.core.errors import ErrorPublic

REF = "#/components/schemas/ErrorPublic"

DESCRIPTIONS = {
    401: "Not logged in, or the token or station key is not valid (or both were sent)",
    403: "The caller's role may not do this",
    404: "The thing named is not on file",
    409: "The request conflicts with the current state",
    413: "The request body is too large",
    422: "The request is not valid",
    429: "Too many reads from this station; try again after Retry-After seconds",
    502: "The PACS did not answer",
}


def _response(status: int) -> dict[str, Any]:
    return {
        "description": DESCRIPTIONS[status],
        "content": {"application/json": {"schema": {"$ref": REF}}},
    }


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route or router: the error statuses it answers besides the usual."""
    return {s: {"model": ErrorPublic, "description": DESCRIPTIONS[s]} for s in statuses}


def _statuses(path: str, operation: dict[str, Any]) -> list[int]:
    statuses = [422]
    if operation.get("security") or path.endswith("/auth/token"):
        statuses.append(401)
    if operation.get("security"):
        statuses.append(403)
    if "{" in path:
        statuses.append(404)
    if "requestBody" in operation:
        statuses.append(413)
    return statuses


def _refer(node: Any, components: dict[str, Any]) -> None:
    """A schema marked ``x-component`` (a type whose values are stored, like the purposes of
    use) becomes a reference to a component of that name, filled in when served."""
    if isinstance(node, dict):
        items: list[tuple[Any, Any]] = list(node.items())
    elif isinstance(node, list):
        items = list(enumerate(node))
    else:
        return
    for key, value in items:
        if isinstance(value, dict) and "x-component" in value:
            name = value.pop("x-component")
            components.setdefault(name, value)
            node[key] = {"$ref": f"#/components/schemas/{name}"}
        else:
            _refer(value, components)


def document(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document (built once), with the error answers described above."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        routes=app.routes,
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    error_schema = ErrorPublic.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(error_schema.pop("$defs", {}))
    components["ErrorPublic"] = error_schema
    _refer(schema, components)
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            for status in _statuses(path, operation):
                responses[str(status)] = _response(status)
            if method == "get":
                responses.pop("409", None)  # a read changes nothing, so conflicts with nothing
            operation["responses"] = dict(sorted(responses.items()))
    app.openapi_schema = schema
    return schema


def install(app: FastAPI, *, url: str | None, current: Callable[[], dict[str, Any]]) -> None:
    """``app.openapi()`` gives :func:`document`; ``url`` serves it with the component schemas
    ``current`` gives, which follow what is stored (the site's purposes of use) and are filled
    in each time the document is fetched."""
    app.openapi = lambda: document(app)  # type: ignore[method-assign]
    if url is None:
        return
    app.state.openapi_current = current
    # One endpoint for every app, never a closure over this one: FastAPI keeps each endpoint
    # and dependency it inspects in process-wide caches (4096 entries), which would keep a
    # closure's app alive, with its engine and all, long after the app is gone (a test run
    # makes an app per test).
    app.add_api_route(url, _serve, include_in_schema=False)


def _serve(request: Request) -> JSONResponse:
    """The document with the component schemas ``install``'s ``current`` gives now."""
    app: FastAPI = request.app
    current: Callable[[], dict[str, Any]] = app.state.openapi_current
    schema = document(app)
    fresh = {**schema, "components": {**schema["components"]}}
    fresh["components"]["schemas"] = {**schema["components"]["schemas"], **current()}
    return JSONResponse(fresh)
