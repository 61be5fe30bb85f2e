"""Jinja2 templates, the page context every template gets, and errors rendered as pages."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.db import get_engine, read_only, session_scope
from app.core.errors import N_, AppError
from app.site import service as site_service
from app.tags import service as tag_service
from app.web import i18n, views
from app.web.security import CSRF_FIELD, LoginRequired, WebUser, csrf_token

TEMPLATES = Path(__file__).parent / "templates"

# The top navigation: each entry shows to the roles its permission allows.
NAVIGATION = [
    # (where it goes, the permission that shows it, its name, the paths it covers)
    ("/desk", "custody.checkout", N_("Desk"), "/desk"),
    ("/where", "lookup", N_("Where is it?"), "/where"),
    ("/lists/loans", "custody.overdue", N_("Lists"), "/lists"),
    ("/dashboard", "custody.overdue", N_("Dashboard"), "/dashboard"),
    ("/labels", "carriers.register", N_("Labels"), "/labels"),
    ("/audit/log", "audit.read", N_("Audit"), "/audit"),
    ("/requests", "requests.create", N_("Requests"), "/requests"),
    ("/inventory", "inventory.read", N_("Inventory"), "/inventory"),
    ("/admin", "borrowers.write", N_("Administration"), "/admin"),
]


def make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda message: i18n.catalog(i18n.current()).gettext(message),
        lambda one, many, n: i18n.catalog(i18n.current()).ngettext(one, many, n),
        newstyle=True,
    )
    env.filters["date"] = i18n.format_date
    env.filters["label_job_reason"] = lambda reason: i18n.say(tag_service.reason_phrase(reason))
    env.globals["term"] = views.term
    env.globals["names"] = {
        "role": views.ROLE_NAMES,
        "station": views.STATION_KINDS,
        "query": views.QUERY_KINDS,
        "purpose": views.PURPOSE_NAMES,
    }
    return env


def locale_of(request: Request) -> str:
    return i18n.negotiate(
        request.cookies.get(i18n.LANG_COOKIE), request.headers.get("accept-language")
    )


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    user: WebUser | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """A page (or, for htmx, a fragment) in the request's language."""
    html = render_text(request, template, context, user=user)
    return HTMLResponse(html, status_code=status_code, headers=headers)


def render_text(
    request: Request, template: str, context: dict[str, Any] | None = None, *,
    user: WebUser | None = None,
) -> str:
    settings = request.app.state.settings
    zone = settings.zone
    env: Environment = request.app.state.templates
    return env.get_template(template).render(
        request=request,
        user=user,
        site_name=_site_name(request),
        csrf_field=CSRF_FIELD,
        csrf_token=csrf_token(request),
        lang=i18n.html_lang(),
        locale=i18n.current(),
        locales=i18n.LOCALES,
        navigation=[n for n in NAVIGATION if user is not None and user.may(n[1])],
        when=lambda moment: i18n.format_moment(moment.astimezone(zone) if moment else None),
        **(context or {}),
    )


def _site_name(request: Request) -> str:
    """The name an administrator gave the site, else the setting (also when the database
    cannot be read: an error page still renders)."""
    settings = request.app.state.settings
    try:
        with session_scope(read_only(get_engine(request))) as session:
            return site_service.current(session=session, settings=settings).name
    except SQLAlchemyError:
        return str(settings.SITE_NAME)


def is_page(request: Request) -> bool:
    """Web pages are everything but the API (and its documents) and a page script's requests
    that ask for JSON (the phone page's reads): those get the API's JSON errors, a 401 rather
    than a redirect to the log-in page."""
    path = request.url.path
    wants_json = request.headers.get("accept", "").startswith("application/json")
    return not (path.startswith("/api/") or path in ("/openapi.json",) or wants_json)


def install_error_pages(app: FastAPI) -> None:
    """Errors on pages answer as pages (fragments for htmx); the API keeps its JSON."""
    api_error = app.exception_handlers[AppError]
    api_http = app.exception_handlers[StarletteHTTPException]
    api_validation = app.exception_handlers[RequestValidationError]

    async def app_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AppError)
        if not is_page(request):
            return await _answer(api_error, request, exc)
        if isinstance(exc, LoginRequired):
            return _to_login(request)
        return _error_page(request, exc.status_code, i18n.error_message(exc))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if not is_page(request):
            return await _answer(api_http, request, exc)
        message = i18n.gettext("No such page.") if exc.status_code == 404 else str(exc.detail)
        return _error_page(request, exc.status_code, message)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if not is_page(request):
            return await _answer(api_validation, request, exc)
        fields = sorted({str(e["loc"][-1]) for e in exc.errors() if e.get("loc")})
        message = i18n.gettext("Check these fields: %(fields)s.", fields=", ".join(fields))
        return _error_page(request, 422, message)

    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)


async def _answer(handler: Any, request: Request, exc: Exception) -> Response:
    """The API's own handler (FastAPI allows sync and async ones)."""
    response = handler(request, exc)
    if inspect.isawaitable(response):
        response = await response
    assert isinstance(response, Response)
    return response


def _to_login(request: Request) -> Response:
    expired = getattr(request.state, "session_expired", False)
    target = "/login?expired=1" if expired else "/login"
    if request.url.path not in ("/", "/login") and request.method == "GET":
        target += ("&" if "?" in target else "?") + f"next={request.url.path}"
    if request.headers.get("HX-Request"):
        # htmx follows HX-Redirect with a full page load.
        return Response(status_code=401, headers={"HX-Redirect": target})
    if request.headers.get("accept", "").startswith("text/event-stream"):
        return JSONResponse({"error": "login_required"}, status_code=401)
    return RedirectResponse(target, status_code=303)


def _error_page(request: Request, status: int, message: str) -> HTMLResponse:
    template = "fragments/flash.html" if request.headers.get("HX-Request") else "error.html"
    context = {"status": status, "message": message, "kind": "error"}
    return render(request, template, context, status_code=status)
