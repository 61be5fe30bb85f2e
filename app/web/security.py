"""Who is at the keyboard: the signed session cookie, its idle timeout, CSRF tokens, and the
permission check of a page (the same permission table as the API).

The cookie is Starlette's signed session (HttpOnly, SameSite=Strict, Secure when the public URL
is https). It holds the user's id, a CSRF token and the time of the last request; the user row
is read on every request, so a disabled account stops at once (the API remembers an account
for a second: app.auth.deps.Callers).
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from app.audit import service as audit_service
from app.core.db import get_engine, read_only, session_scope
from app.core.errors import AppError, ErrorCode, ForbiddenError
from app.core.permissions import PERMISSIONS, allowed
from app.core.principal import Principal, Role
from app.users.models import User
from app.web.i18n import gettext

SESSION_COOKIE = "mediatrack_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


class LoginRequired(AppError):
    """No one is logged in (or the session went idle): the page sends the browser to log in."""

    status_code = 401
    code = ErrorCode.LOGIN_REQUIRED


class CsrfError(AppError):
    status_code = 403
    code = ErrorCode.CSRF_FAILED


@dataclass(frozen=True)
class WebUser:
    principal: Principal
    username: str
    display_name: str

    @property
    def role(self) -> Role:
        return self.principal.role

    def may(self, permission: str) -> bool:
        return allowed(permission, self.principal.role)


def session_secret(secret_key: str) -> str:
    """The cookie's signing key, derived so it differs from the API tokens' key."""
    return hmac.new(secret_key.encode(), b"mediatrack web session", "sha256").hexdigest()


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use (the log-in form needs one too)."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def log_in(request: Request, user: User) -> None:
    """A fresh session for this user: nothing of the anonymous one is kept (no fixation)."""
    request.session.clear()
    request.session.update({"uid": user.id, "seen": int(time.time())})
    csrf_token(request)


def log_out(request: Request) -> None:
    request.session.clear()


def load_user(session: Session, user_id: object) -> WebUser | None:
    """The user as the pages see them, or None when the account is gone or disabled."""
    user = session.get(User, user_id) if isinstance(user_id, int) else None
    if user is None or not user.active:
        return None
    principal = Principal(kind="user", id=user.id, role=Role(user.role))
    return WebUser(principal, user.username, user.display_name)


def current_user(request: Request) -> WebUser | None:
    """The logged-in user, or None (never logged in, idle too long, account disabled)."""
    if "uid" not in request.session:
        return None
    idle = request.app.state.settings.SESSION_IDLE_MINUTES * 60
    seen = request.session.get("seen")
    now = int(time.time())
    if not isinstance(seen, int) or now - seen > idle:
        request.session.clear()
        request.state.session_expired = True
        return None
    with session_scope(read_only(get_engine(request))) as session:
        user = load_user(session, request.session.get("uid"))
    if user is None:
        request.session.clear()
        return None
    request.session["seen"] = now
    return user


def page(permission: str) -> Callable[[Request], WebUser]:
    """Dependency of a page: the user, if logged in and allowed ``permission``. A refusal is
    logged as a ``denied`` event, exactly as the API does."""
    if permission not in PERMISSIONS:
        raise KeyError(permission)

    def check(request: Request) -> WebUser:
        user = current_user(request)
        if user is None:
            raise LoginRequired(gettext("Log in to see this page."))
        if user.may(permission):
            return user
        audit_service.record_denied(
            get_engine(request),
            principal=user.principal,
            permission=permission,
            route=f"{request.method} {_route_template(request)}",
        )
        raise ForbiddenError(
            gettext("Your role may not do this (%(permission)s).", permission=permission)
        )

    check.__name__ = f"page_{permission.replace('.', '_')}"
    return check


def _route_template(request: Request) -> str:
    template = getattr(request.scope.get("route"), "path", None)
    return template if isinstance(template, str) else "?"


async def check_csrf(request: Request) -> None:
    """Every POST of a page carries the session's token, in the form or (htmx) a header."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    expected = request.session.get("csrf")
    if not sent or not isinstance(expected, str) or not hmac.compare_digest(sent, expected):
        raise CsrfError(
            gettext(
                "This form has expired or did not come from this site. "
                "Reload the page and try again."
            )
        )


Csrf = Annotated[None, Depends(check_csrf)]
