"""The FastAPI application."""

from __future__ import annotations

import gc
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI
from sqlalchemy import Engine
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import web
from app.api import api_router
from app.audit import service as audit_service
from app.auth.deps import Callers
from app.core.announce import Listener
from app.core.config import Settings
from app.core.db import make_engine, read_only, session_scope
from app.core.errors import (
    INTERNAL_ERROR_DETAIL,
    ErrorCode,
    error_body,
    log,
    register_handlers,
)
from app.core.logs import install_filters
from app.core.openapi import install as install_openapi
from app.core.ratelimit import ReadBudget
from app.core.writer import GroupWriter
from app.scans.service import SCAN_CHANNEL
from app.site import service as site_service


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, whether or not Content-Length
    is sent. A body without a length is read (up to the limit) before the app sees it, so an
    over-long stream is refused before any work is done, never half-read."""

    def __init__(self, app: ASGIApp, limit: int, larger: dict[str, int] | None = None) -> None:
        self.app, self.default = app, limit
        # Routes (full-match path patterns) that take larger bodies, with their own limits.
        self.larger = [(re.compile(p), n) for p, n in (larger or {}).items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        limit = next((n for p, n in self.larger if p.fullmatch(path)), self.default)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit():
            if int(length) > limit:
                await _reject(send, limit)
                return
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        seen = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            seen += len(message.get("body", b""))
            if seen > limit:
                await _reject(send, limit)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


def _too_large(limit: int) -> str:
    return f"The request body is larger than the {limit // 1024} KiB this route accepts."


async def _reject(send: Send, limit: int) -> None:
    await _answer(send, 413, ErrorCode.PAYLOAD_TOO_LARGE, _too_large(limit))


class ContainErrors:
    """An unexpected exception is answered with a plain 500, logged by its type only, and not
    raised on: the server would log it with its text, which may quote patient data."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            log.error("unhandled %s on %s %s", type(exc).__name__, scope["method"], scope["path"])
            if not started:
                await _answer(send, 500, ErrorCode.INTERNAL_ERROR, INTERNAL_ERROR_DETAIL)


class SecurityHeaders:
    """Headers every response carries: no inline script or framing, no MIME sniffing, no
    referrer leaving the site. The API documentation pages need inline styles (Swagger UI and
    ReDoc set them) and ReDoc a blob: worker; nothing else does."""

    STRICT = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    )
    DOCS = STRICT.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'") + (
        "; worker-src 'self' blob:"
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = self.DOCS if scope["path"] in ("/docs", "/redoc") else self.STRICT

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", policy)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "same-origin")
                if not scope["path"].startswith("/static/"):
                    # Pages and answers hold patient data: no copy in a shared PC's cache.
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, with_headers)


class NoNulInURL:
    """A path or query holding a NUL character (%00) is bad input: 422 before any work.
    PostgreSQL text cannot hold NUL, so it would otherwise fail deep down as a 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            "\x00" in scope["path"] or b"%00" in scope.get("query_string", b"")
        ):
            detail = "The address holds a NUL character (%00), which no value may contain."
            await _answer(send, 422, ErrorCode.INVALID_INPUT, detail)
            return
        await self.app(scope, receive, send)


async def _answer(send: Send, status: int, code: ErrorCode, detail: str) -> None:
    import json

    body = json.dumps(error_body(code, detail)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _purpose_schema(engine: Engine, settings: Settings) -> dict[str, Any]:
    """The Purpose schema of the OpenAPI document: the site's purposes of use, as stored now."""
    with session_scope(read_only(engine)) as session:
        site = site_service.current(session=session, settings=settings)
    return {
        "Purpose": {
            "type": "string",
            "enum": list(site.purposes),
            "description": "A purpose of use this site allows (HL7 v3 PurposeOfUse).",
        }
    }


def create_app(settings: Settings | None = None, *, serving: bool = False) -> FastAPI:
    """The app. ``serving``: the process runs this app alone for its whole life
    (``mediatrack serve``), so what its start built is frozen (_freeze_what_start_built) and
    its threads switch less often (SWITCH_INTERVAL); a test run builds an app per test and
    frees each one (tests/app/test_app_lifetime.py)."""
    settings = settings or Settings()
    install_filters()
    engine = make_engine(settings.database_url, busy_timeout_ms=settings.SQLITE_BUSY_TIMEOUT_MS)

    # Committed scans reach the desk pages of every process (PostgreSQL LISTEN/NOTIFY).
    listener = Listener(engine, [SCAN_CHANNEL])
    # Scans from many stations share transactions and commits (app.core.writer).
    writer = GroupWriter(engine)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        listener.start()
        # Serve only once this process hears announcements (a desk must not miss a tap).
        if not await anyio.to_thread.run_sync(listener.ready.wait, 10):
            log.warning("the announcement listener is not listening yet; desks may miss taps")
        if serving:
            _freeze_what_start_built()
            sys.setswitchinterval(SWITCH_INTERVAL)
        yield
        listener.stop()
        writer.stop()
        engine.dispose()

    app = FastAPI(
        title="MediaTrack",
        summary="Custody of radiology archive media: carriers, tags, studies, custody log.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served by app.web.docs with local assets
        redoc_url=None,
        openapi_url=None,  # served by app.core.openapi, with the site's purposes of use
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.writer = writer
    app.state.listener = listener
    app.state.callers = Callers()
    app.state.read_budget = ReadBudget(
        rate=settings.STATION_READS_PER_SECOND, burst=settings.STATION_READ_BURST
    )
    app.state.record_denied = audit_service.record_denied  # see app.auth.deps
    register_handlers(app)
    app.include_router(api_router)
    install_openapi(
        app,
        url="/openapi.json" if settings.DOCS_ENABLED else None,
        current=lambda: _purpose_schema(engine, settings),
    )
    web.install(app, settings)
    # A station's reading of a whole disc (every file's UID, size and hash) is large.
    readings = {r"/api/v1/carriers/[A-Z0-9_]{1,16}/(intake|verify)": settings.MAX_READING_BYTES}
    app.add_middleware(BodyLimit, limit=settings.MAX_BODY_BYTES, larger=readings)
    app.add_middleware(NoNulInURL)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(ContainErrors)
    return app


def served_app() -> FastAPI:
    """``mediatrack serve``'s factory: uvicorn calls it in each worker process."""
    return create_app(serving=True)


# How long a thread that wants the interpreter lock waits before it makes the running thread
# hand it over (Python's default is 5 ms). A served process has two busy threads, the event
# loop and the group writer; the writer gives the lock up at each database call anyway, and
# each forced hand-over between them costs thread switches. At 20 ms, eight stations' scans
# on SQLite went from 0.39 to 0.41 of the bare endpoint's rate and their p99 from 18.1 to
# 17.0 ms (four rounds each); 0.5 ms made them worse (0.33), PostgreSQL did not move
# (docs/performance.md, "The interpreter lock's switch interval").
SWITCH_INTERVAL = 0.02


def _freeze_what_start_built() -> None:
    """Put what is alive once the app has started (modules, routes and their dependency trees,
    statements built at import, the app) out of the garbage collector's reach: it lives as
    long as the process. Otherwise every full collection walks it all again, some 220,000
    objects, and stops every thread for 100 to 150 ms, several times a minute under load:
    eight stations posting scans had a p99 of 87 to 106 ms with those pauses and 29 to 34 ms
    without (docs/performance.md, "Two pauses taken out"). Collected first, so no garbage is
    kept for good (docs.python.org/3/library/gc.html#gc.freeze)."""
    gc.collect()
    gc.freeze()
