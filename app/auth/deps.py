"""FastAPI dependencies: who is calling, and may they do this.

A refused attempt is written to the custody log by the recorder ``create_app`` puts on
``app.state.record_denied`` (the audit log's ``record_denied``): auth does not import the log,
so the log's own routes can name their permissions here without an import cycle.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from functools import cache, partial
from typing import Annotated, Protocol

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlalchemy import Engine
from sqlmodel import Session, col, or_, select

from app.core.db import get_engine, read_only, session_scope
from app.core.errors import ForbiddenError, UnauthorizedError
from app.core.permissions import PERMISSIONS, allowed
from app.core.principal import Principal, Role
from app.core.security import api_key_matches, api_key_prefix, hash_api_key, read_token
from app.core.time import utcnow
from app.stations.models import Station
from app.users.models import User

_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False)


class DeniedRecorder(Protocol):
    """Writes a refused attempt to the log, in a transaction of its own."""

    def __call__(
        self, engine: Engine, *, principal: Principal, permission: str, route: str
    ) -> None: ...


def _user_principal(session: Session, user_id: int) -> Principal:
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise UnauthorizedError("That account no longer exists or is disabled.")
    return Principal(kind="user", id=user.id, role=Role(user.role))


def _station_with_key(session: Session, key: str) -> Station:
    """The station whose current key is ``key``, or whose previous key is, while that is in
    its grace period after a rotation (app.stations.service.rotate_key)."""
    prefix = api_key_prefix(key)
    if prefix is None:
        raise UnauthorizedError("That station key is not known.")
    query = select(Station).where(
        or_(col(Station.key_prefix) == prefix, col(Station.previous_key_prefix) == prefix)
    )
    for station in session.exec(query):
        if api_key_matches(key, station.key_hash):
            return station
        if station.previous_key_hash and api_key_matches(key, station.previous_key_hash):
            expires = station.previous_key_expires_at
            if expires is None or expires <= utcnow():
                raise UnauthorizedError(
                    "This key of station {name} was replaced by a new one and no longer "
                    "works; give the station its new key.", name=station.name
                )
            return station
    raise UnauthorizedError("That station key is not known.")


def _station_principal(session: Session, key: str) -> Principal:
    station = _station_with_key(session, key)
    if station.revoked_at is not None:
        raise UnauthorizedError("The key of station {name} was revoked.", name=station.name)
    return Principal(
        kind="station",
        id=station.id,
        role=Role.STATION,
        station_id=station.id,
        location_id=station.location_id,
    )


class Callers:
    """Callers recently let in, for at most ``ttl`` seconds: a station by the hash of its key,
    a person by the account their token names.

    A station posts a scan per tap, and a clerk's desk a request per carrier: checking the
    caller in a transaction of its own each time was a fifth of a scan's cost, and five round
    trips of every request a person makes on PostgreSQL. A key revoked, or replaced and past
    its grace period, a station moved, an account disabled or given another role: each takes
    effect within ``ttl``. A token's signature and expiry are still checked on every request
    (no database work), and callers refused are never kept, so guessing gains nothing.
    """

    def __init__(self, ttl: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._known: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def known(self, caller: str) -> Principal | None:
        """Who ``caller`` was found to be less than ``ttl`` ago (no database work)."""
        with self._lock:
            known = self._known.get(caller)
        if known is not None and self.clock() - known[0] < self.ttl:
            return known[1]
        return None

    def check(
        self, engine: Engine, caller: str, find: Callable[[Session], Principal]
    ) -> Principal:
        """Who ``caller`` is, found in the database by ``find``; remembered if let in."""
        now = self.clock()
        with session_scope(read_only(engine)) as session:
            principal = find(session)
        with self._lock:
            self._known[caller] = (now, principal)
        return principal


async def current_principal(
    request: Request,
    token: Annotated[str | None, Depends(_bearer)],
    key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    """A caller let in a moment ago needs no database work and stays on the event loop (a
    tap's request until its work is queued); otherwise a short read-only transaction of its
    own, separate from the request's work, in a worker thread."""
    if not token and not key:
        raise UnauthorizedError("Log in first (or send the station's API key).")
    if token and key:
        # Which one acts would be a guess (a key used to win silently): a caller is one of them.
        raise UnauthorizedError(
            "Send either a log-in token or a station's API key, not both: the request is "
            "ambiguous."
        )
    find: Callable[[Session], Principal]
    if key:
        caller, find = f"key {hash_api_key(key)}", partial(_station_principal, key=key)
    else:
        assert token is not None
        user_id = read_token(token, secret=request.app.state.settings.secret_key)
        caller, find = f"user {user_id}", partial(_user_principal, user_id=user_id)
    callers: Callers = request.app.state.callers
    known = callers.known(caller)
    if known is not None:
        return known
    return await run_in_threadpool(callers.check, get_engine(request), caller, find)


def _route_path(request: Request) -> str:
    """The route's template (/api/v1/carriers/{label}), never the filled-in path with its values.

    A route of an included router knows only its own part (/carriers/{label}); the segments
    before it come from the router prefixes, which hold no values, so they are taken as sent.
    """
    template = getattr(request.scope.get("route"), "path", None)
    if not isinstance(template, str):
        return "?"
    segments = request.url.path.split("/")
    return "/".join(segments[: len(segments) - template.count("/")]) + template


@cache
def require(permission: str) -> Callable[..., Awaitable[Principal]]:
    """Dependency: the caller, if the permission table lets their role do ``permission``.

    One function per permission, made once: the routers' annotations are strings (``from
    __future__ import annotations``) that FastAPI evaluates again for every app it builds, and
    each new function would take a place in FastAPI's process-wide caches of inspected
    callables (4096 entries), pushing out older ones."""
    if permission not in PERMISSIONS:
        raise KeyError(permission)

    async def check(
        request: Request, principal: Annotated[Principal, Depends(current_principal)]
    ) -> Principal:
        if allowed(permission, principal.role):
            return principal
        record_denied: DeniedRecorder = request.app.state.record_denied
        await run_in_threadpool(
            partial(
                record_denied,
                get_engine(request),
                principal=principal,
                permission=permission,
                route=f"{request.method} {_route_path(request)}",
            )
        )
        raise ForbiddenError(
            "Your role ({role}) may not do this ({permission}).",
            role=principal.role.value, permission=permission,
        )

    check.__name__ = f"require_{permission.replace('.', '_')}"
    return check
