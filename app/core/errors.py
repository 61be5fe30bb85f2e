"""Errors that carry their own HTTP status, rendered as ``{"error": ..., "detail": ...}``."""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

log = logging.getLogger("mediatrack")


class ErrorCode(StrEnum):
    """The ``error`` of every error body."""

    BAD_REQUEST = "bad_request"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    INVALID_INPUT = "invalid_input"
    TOO_MANY_REQUESTS = "too_many_requests"
    PACS_UNAVAILABLE = "pacs_unavailable"
    HTTP_ERROR = "http_error"
    INTERNAL_ERROR = "internal_error"
    # web pages only: the browser is sent to log in / the form lacked its CSRF token
    LOGIN_REQUIRED = "login_required"
    CSRF_FAILED = "csrf_failed"


class ErrorPublic(BaseModel):
    """Every error answer (the OpenAPI document's one error body): a code to branch on and a
    sentence to show."""

    error: ErrorCode
    detail: str


# The one answer to an unexpected error (see app.main.ContainErrors): its text may quote
# submitted values, so none of it is shown or logged.
INTERNAL_ERROR_DETAIL = "Something went wrong on the server; nothing was saved."


class Translator(Protocol):
    """What translates a message id: ``gettext.NullTranslations`` and its subclasses."""

    def gettext(self, message: str, /) -> str: ...

    def pgettext(self, context: str, message: str, /) -> str: ...


def N_(message: str) -> str:  # noqa: N802 (the gettext convention)
    """Mark a message for the catalog without translating it now (gettext_noop)."""
    return message


def NC_(context: str, message: str) -> str:  # noqa: N802
    """:func:`N_` for a message that needs its context in the catalog (a word said one way in a
    list and another way inside a sentence); the Phrase that says it names the same context."""
    return message


class Phrase:
    """A sentence, or a part of one, kept as an English template with named parameters
    (``str.format`` fields: ``"There is no station named {name}."``) so that a page can show
    it in its own language: the template is translated, then filled in. A parameter that is
    a Phrase itself is translated the same way; any other is written plainly (``str``).
    ``context`` (second, positional) is the context of a template marked with :func:`NC_`."""

    __slots__ = ("template", "params", "context")

    def __init__(self, template: str, context: str | None = None, /, **params: object) -> None:
        self.template = template
        self.params = params
        self.context = context

    def render(self, translator: Translator | None = None) -> str:
        """The sentence in the translator's language (English without one)."""
        text = self.template
        if translator is not None:
            text = (
                translator.pgettext(self.context, text) if self.context
                else translator.gettext(text)
            )
        if not self.params:
            return text
        values = {
            key: value.render(translator) if isinstance(value, Phrase) else value
            for key, value in self.params.items()
        }
        return text.format(**values)

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return f"Phrase({self.template!r})"


class AppError(Exception):
    """Base for every error a clerk or admin should read.

    Raised with an English template and its parameters (see :class:`Phrase`); ``message`` is
    the English sentence (the API's ``detail``), :meth:`translated` the one a page shows.
    Babel extracts the templates: each subclass name is a keyword of the catalog update
    (``app/web/translations/update.py``), so a new subclass is added there too.
    """

    status_code = 400
    code = ErrorCode.BAD_REQUEST

    def __init__(self, template: str, /, **params: object) -> None:
        self.phrase = Phrase(template, **params)
        self.message = self.phrase.render()
        super().__init__(self.message)

    def translated(self, translator: Translator) -> str:
        """The sentence in the translator's language."""
        return self.phrase.render(translator)


class UnauthorizedError(AppError):
    status_code = 401
    code = ErrorCode.UNAUTHORIZED


class ForbiddenError(AppError):
    status_code = 403
    code = ErrorCode.FORBIDDEN


class NotFoundError(AppError):
    status_code = 404
    code = ErrorCode.NOT_FOUND


class ConflictError(AppError):
    status_code = 409
    code = ErrorCode.CONFLICT


class InvalidInputError(AppError):
    status_code = 422
    code = ErrorCode.INVALID_INPUT


class TooManyRequestsError(AppError):
    status_code = 429
    code = ErrorCode.TOO_MANY_REQUESTS

    def __init__(
        self, template: str, /, *, retry_after: int | None = None, **params: object
    ) -> None:
        super().__init__(template, **params)
        self.retry_after = retry_after  # whole seconds, sent as Retry-After (RFC 9110 10.2.3)


def error_body(code: ErrorCode, detail: Any) -> dict[str, Any]:
    return {"error": code, "detail": detail}


def _describe_validation(exc: RequestValidationError) -> str:
    """One sentence per problem, naming the field, never echoing the submitted value."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        if err.get("type") == "extra_forbidden":
            parts.append(f"{where}: this field is not allowed")
        elif err.get("type") == "json_invalid":
            # loc is ("body", <character offset>): say what it is, not "17: JSON decode error".
            parts.append(f"the request body is not valid JSON (near character {where})")
        else:
            parts.append(f"{where}: {err.get('msg', 'invalid value')}")
    return "; ".join(parts)


def register_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_: Request, exc: AppError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        if isinstance(exc, TooManyRequestsError) and exc.retry_after is not None:
            headers = {"Retry-After": str(exc.retry_after)}
        return JSONResponse(
            error_body(exc.code, exc.message), status_code=exc.status_code, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            error_body(ErrorCode.INVALID_INPUT, _describe_validation(exc)), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {
            400: ErrorCode.BAD_REQUEST,
            404: ErrorCode.NOT_FOUND,
            405: ErrorCode.METHOD_NOT_ALLOWED,
        }
        if exc.status_code == 400:
            # FastAPI's only 400: a body that is not text in the declared type (bad UTF-8, a
            # broken form). Bad input, answered as all bad input is.
            return JSONResponse(
                error_body(ErrorCode.INVALID_INPUT, "The request body could not be read."),
                status_code=422,
            )
        code = codes.get(exc.status_code, ErrorCode.HTTP_ERROR)
        detail = "No such page or API route." if exc.status_code == 404 else str(exc.detail)
        headers = exc.headers
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": ", ".join(_allowed_methods(request))}
        return JSONResponse(error_body(code, detail), status_code=exc.status_code, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route takes at this path. Starlette's own 405 names only the methods
    of the first route matching the path (``GET`` for /audit/verify, which also takes POST)."""
    return [
        method
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE")
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.router.routes
        )
    ]
