"""The web pages: server-rendered (Jinja2), htmx for partial updates, SSE for live ones,
Simplified Chinese and English. Pages call the domain services directly, on the same
permission table as the API; nothing is fetched from the internet (assets are vendored).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.config import Settings
from app.web import (
    admin,
    audit,
    desk,
    docs,
    i18n,
    inventory,
    labels,
    lists,
    pages,
    phone,
    requests,
)
from app.web.render import install_error_pages, make_environment
from app.web.security import SESSION_COOKIE, session_secret

STATIC = Path(__file__).parent / "static"


class Language:
    """Every page request runs in its reader's language (cookie, else the browser's)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        locale = i18n.negotiate(
            request.cookies.get(i18n.LANG_COOKIE), request.headers.get("accept-language")
        )
        with i18n.using(locale):
            await self.app(scope, receive, send)


class PagesOnly:
    """Middleware only the pages need (their session cookie, their language) run for every
    request but the API's, which reads neither: a station's scan skips parsing cookies and
    wrapping its answer twice. A request is the API's when its path starts with /api/ (so
    render.is_page gives it the API's errors) and no root path is set (so the routes match
    that same path, and no page can be reached under it)."""

    def __init__(self, app: ASGIApp, wrap: Callable[[ASGIApp], ASGIApp]) -> None:
        self.app = app
        self.pages = wrap(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and not scope.get("root_path")
            and scope["path"].startswith("/api/")
        ):
            await self.app(scope, receive, send)
            return
        await self.pages(scope, receive, send)


def install(app: FastAPI, settings: Settings) -> None:
    app.state.templates = make_environment()
    docs.install(app, settings)  # before /static: its assets live under /static/api-docs
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(pages.router)
    app.include_router(desk.router)
    app.include_router(audit.router)
    app.include_router(labels.router)
    app.include_router(lists.router)
    app.include_router(admin.router)
    app.include_router(requests.router)
    # Before the campaign pages: /inventory/sw.js is no campaign.
    app.include_router(phone.router)
    app.include_router(inventory.router)
    install_error_pages(app)
    secret = session_secret(settings.secret_key)

    def page_middleware(app: ASGIApp) -> ASGIApp:
        # The session outside, the language inside it, as when each was added on its own.
        return SessionMiddleware(
            Language(app),
            secret_key=secret,
            session_cookie=SESSION_COOKIE,
            max_age=None,  # a browser-session cookie; the idle timeout is checked on the server
            same_site="strict",
            https_only=settings.PUBLIC_URL.startswith("https://"),
        )

    app.add_middleware(PagesOnly, wrap=page_middleware)
