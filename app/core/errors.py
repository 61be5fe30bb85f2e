"""Errors that carry their own HTTP status, rendered as ``{"error": ..., "detail": ...}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("mediatrack")


class AppError(Exception):
    """Base for every error a clerk or admin should read. ``message`` is shown as is."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequestError(AppError):
    status_code = 400
    code = "bad_request"


class UnauthorizedError(AppError):
    status_code = 401
    code = "unauthorized"


class ForbiddenError(AppError):
    status_code = 403
    code = "forbidden"


class NotFoundError(AppError):
    status_code = 404
    code = "not_found"


class ConflictError(AppError):
    status_code = 409
    code = "conflict"


class PayloadTooLargeError(AppError):
    status_code = 413
    code = "payload_too_large"


class InvalidInputError(AppError):
    status_code = 422
    code = "invalid_input"


class TooManyRequestsError(AppError):
    status_code = 429
    code = "too_many_requests"


def error_body(code: str, detail: Any) -> dict[str, Any]:
    return {"error": code, "detail": detail}


def _describe_validation(exc: RequestValidationError) -> str:
    """One sentence per problem, naming the field, never echoing the submitted value."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        if err.get("type") == "extra_forbidden":
            parts.append(f"{where}: this field is not allowed")
        else:
            parts.append(f"{where}: {err.get('msg', 'invalid value')}")
    return "; ".join(parts)


def register_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_: Request, exc: AppError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return JSONResponse(
            error_body(exc.code, exc.message), status_code=exc.status_code, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body("invalid_input", _describe_validation(exc)), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}
        code = codes.get(exc.status_code, "http_error")
        detail = "No such page or API route." if exc.status_code == 404 else str(exc.detail)
        return JSONResponse(
            error_body(code, detail), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Ids only: the exception text may hold submitted values.
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
        return JSONResponse(
            error_body("internal_error", "Something went wrong on the server; nothing was saved."),
            status_code=500,
        )
