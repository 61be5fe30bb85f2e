"""The API documentation pages (/docs: Swagger UI, /redoc: ReDoc) with their assets served by
this app, so they work on a hospital network without internet. The assets come from the pinned
``fastapi-offline`` package; the pages are our templates, with no inline script (CSP)."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from app.core.config import Settings

ASSETS = Path(fastapi_offline.__file__).parent / "static"
router = APIRouter(include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(request: Request) -> HTMLResponse:
    html = request.app.state.templates.get_template("api_docs.html").render(viewer="swagger")
    return HTMLResponse(html)


@router.get("/redoc", response_class=HTMLResponse)
def redoc(request: Request) -> HTMLResponse:
    html = request.app.state.templates.get_template("api_docs.html").render(viewer="redoc")
    return HTMLResponse(html)


def install(app: FastAPI, settings: Settings) -> None:
    if not settings.DOCS_ENABLED:
        return
    app.mount("/static/api-docs", StaticFiles(directory=ASSETS), name="api-docs")
    app.include_router(router)
