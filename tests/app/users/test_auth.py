"""Logging in, the lock-out, and every kind of bad token or station key (all 401)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.core.config import Settings
from app.core.db import session_scope
from app.core.principal import Principal, Role
from app.core.time import utcnow
from app.users import service as users_service
from app.users.service import MAX_FAILED_LOGINS
from tests.app.web.test_pages import _log_in
from tests.factories import PASSWORD, World

TOKEN_URL = "/api/v1/auth/token"
STAFF_ONLY = "/api/v1/carriers"


def log_in(client: TestClient, username: str, password: str) -> Any:
    return client.post(TOKEN_URL, data={"username": username, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def user_id(engine: Engine, username: str) -> int:
    with engine.connect() as conn:
        query = text("SELECT id FROM app_user WHERE username = :u")
        return int(conn.execute(query, {"u": username}).scalar_one())


def claims(engine: Engine, username: str = "clerk", **changes: Any) -> dict[str, Any]:
    now = utcnow()
    base: dict[str, Any] = {
        "sub": str(user_id(engine, username)),
        "role": username,
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(minutes=15),
        "jti": "test",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


class TestLogIn:
    def test_right_password_gives_a_working_token(self, client: TestClient, world: World) -> None:
        r = log_in(client, "clerk", PASSWORD)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == 15 * 60
        assert set(body) == {"access_token", "token_type", "expires_in"}
        assert client.get(STAFF_ONLY, headers=bearer(body["access_token"])).status_code == 200

    def test_wrong_password_reads_like_an_unknown_user(
        self, client: TestClient, world: World
    ) -> None:
        wrong = log_in(client, "clerk", PASSWORD + "x")
        unknown = log_in(client, "nobody-here", PASSWORD)
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.json() == unknown.json()
        assert wrong.json()["error"] == "unauthorized"
        assert "clerk" not in wrong.text and "nobody-here" not in unknown.text

    def test_missing_form_fields_are_422(self, client: TestClient, world: World) -> None:
        r = client.post(TOKEN_URL, data={"username": "clerk"})
        assert r.status_code == 422
        assert set(r.json()) == {"error", "detail"}

    def test_lock_out_after_ten_failures_others_unaffected(
        self, client: TestClient, world: World
    ) -> None:
        assert MAX_FAILED_LOGINS == 10
        for attempt in range(MAX_FAILED_LOGINS):
            r = log_in(client, "clerk", f"wrong password {attempt}")
            assert r.status_code == 401, (attempt, r.text)
        # Now even the right password is refused, with 429, until the lock expires.
        locked = log_in(client, "clerk", PASSWORD)
        assert locked.status_code == 429, locked.text
        assert locked.json()["error"] == "too_many_requests"
        assert log_in(client, "clerk", "wrong again").status_code == 429
        # Every other account still logs in.
        assert log_in(client, "clinician", PASSWORD).status_code == 200
        assert log_in(client, "admin", PASSWORD).status_code == 200

    def test_fewer_failures_do_not_lock_and_success_resets(
        self, client: TestClient, world: World
    ) -> None:
        for _ in range(MAX_FAILED_LOGINS - 1):
            assert log_in(client, "clerk", "wrong password").status_code == 401
        assert log_in(client, "clerk", PASSWORD).status_code == 200
        # The counter started again: nine more failures still do not lock.
        for _ in range(MAX_FAILED_LOGINS - 1):
            assert log_in(client, "clerk", "wrong password").status_code == 401
        assert log_in(client, "clerk", PASSWORD).status_code == 200

    def test_deactivated_user_cannot_log_in(self, client: TestClient, world: World) -> None:
        r = client.post("/api/v1/users/clerk/deactivate", headers=world.auth("admin"))
        assert r.status_code == 200 and r.json()["active"] is False
        assert log_in(client, "clerk", PASSWORD).status_code == 401


BAD_TOKENS = [
    "none_alg",
    "wrong_signature",
    "other_hmac_alg",
    "rsa_signed",
    "expired",
    "future_nbf",
    "missing_sub",
    "missing_exp",
    "sub_not_a_number",
    "sub_of_nobody",
    "garbage",
    "empty_parts",
]


def make_bad_token(case: str, engine: Engine, secret: str) -> str:
    now = utcnow()
    if case == "none_alg":
        return jwt.encode(claims(engine), None, algorithm="none")
    if case == "wrong_signature":
        return jwt.encode(claims(engine), "another-secret-that-is-long-enough-000000", "HS256")
    if case == "other_hmac_alg":  # right secret, but an algorithm outside the allow-list
        return jwt.encode(claims(engine), secret, algorithm="HS512")
    if case == "rsa_signed":  # a key pair of the attacker's own: RS256 is not on the list
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return jwt.encode(claims(engine), private, algorithm="RS256")
    if case == "expired":
        past = claims(engine, iat=now - timedelta(hours=1), nbf=now - timedelta(hours=1))
        return jwt.encode({**past, "exp": now - timedelta(minutes=1)}, secret, "HS256")
    if case == "future_nbf":
        return jwt.encode(claims(engine, nbf=now + timedelta(minutes=10)), secret, "HS256")
    if case == "missing_sub":
        return jwt.encode(claims(engine, sub=None), secret, "HS256")
    if case == "missing_exp":
        return jwt.encode(claims(engine, exp=None), secret, "HS256")
    if case == "sub_not_a_number":
        return jwt.encode(claims(engine, sub="clerk"), secret, "HS256")
    if case == "sub_of_nobody":
        return jwt.encode(claims(engine, sub="987654"), secret, "HS256")
    if case == "garbage":
        return "this-is.not-a.token"
    if case == "empty_parts":
        return ".."
    raise AssertionError(case)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
@pytest.mark.parametrize("case", BAD_TOKENS)
def test_bad_token_is_401(
    case: str, client: TestClient, world: World, engine: Engine, settings: Settings
) -> None:
    """Refused even just after the same account was let in: the account is remembered for a
    second (app.auth.deps.Callers), the token itself is checked every time."""
    good = jwt.encode(claims(engine), settings.secret_key, "HS256")
    assert client.get(STAFF_ONLY, headers=bearer(good)).status_code == 200
    token = make_bad_token(case, engine, settings.secret_key)
    r = client.get(STAFF_ONLY, headers=bearer(token))
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "unauthorized"
    assert set(r.json()) == {"error", "detail"}
    assert token not in r.text


def test_the_same_claims_signed_right_are_accepted(
    client: TestClient, world: World, engine: Engine, settings: Settings
) -> None:
    """The bad-token cases fail for their one defect, not because the helper is broken."""
    token = jwt.encode(claims(engine), settings.secret_key, "HS256")
    assert client.get(STAFF_ONLY, headers=bearer(token)).status_code == 200


def test_role_claim_is_not_trusted(
    client: TestClient, world: World, engine: Engine, settings: Settings
) -> None:
    """A clerk's token that says "admin" still acts as a clerk: the role is read from the
    database, never from the token."""
    token = jwt.encode(claims(engine, "clerk", role="admin"), settings.secret_key, "HS256")
    assert client.get("/api/v1/users", headers=bearer(token)).status_code == 403


def test_token_of_a_deactivated_user_is_401_within_a_second(
    client: TestClient, world: World, memory_lapses: Callable[[], None]
) -> None:
    """Accounts let in are remembered for a second (app.auth.deps.Callers), not longer."""
    assert client.get(STAFF_ONLY, headers=world.auth("clerk")).status_code == 200
    r = client.post("/api/v1/users/clerk/deactivate", headers=world.auth("admin"))
    assert r.status_code == 200
    # Within the second, the account is still remembered as let in...
    assert client.get(STAFF_ONLY, headers=world.auth("clerk")).status_code == 200
    memory_lapses()
    # ...and once it has passed, the database's answer counts.
    r = client.get(STAFF_ONLY, headers=world.auth("clerk"))
    assert r.status_code == 401
    assert r.json()["error"] == "unauthorized"


def test_a_new_role_takes_effect_within_a_second(
    client: TestClient, world: World, engine: Engine, memory_lapses: Callable[[], None]
) -> None:
    clerk_only = "/api/v1/borrowers"  # borrowers.read: not for clinicians
    assert client.get(clerk_only, headers=world.auth("clerk")).status_code == 200
    admin = Principal(kind="user", id=user_id(engine, "admin"), role=Role.ADMIN)
    with session_scope(engine) as session:
        users_service.change_role(session=session, username="clerk", role=Role.CLINICIAN, by=admin)
    assert client.get(clerk_only, headers=world.auth("clerk")).status_code == 200
    memory_lapses()
    r = client.get(clerk_only, headers=world.auth("clerk"))
    assert r.status_code == 403 and "clinician" in r.json()["detail"]


def test_a_page_session_of_a_deactivated_user_ends_at_its_next_request(
    app: FastAPI, client: TestClient, world: World
) -> None:
    """Pages keep only the user's id in the session: each request reads the account again."""
    with TestClient(app, raise_server_exceptions=False) as clerk:
        _log_in(clerk, "clerk")
        assert clerk.get("/where", follow_redirects=False).status_code == 200
        r = client.post("/api/v1/users/clerk/deactivate", headers=world.auth("admin"))
        assert r.status_code == 200
        r = clerk.get("/where", follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, "/login?next=/where")


def test_no_credentials_is_401_with_a_challenge(client: TestClient, world: World) -> None:
    r = client.get(STAFF_ONLY)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json()["error"] == "unauthorized"


class TestStationKeys:
    def test_the_station_key_works(self, client: TestClient, world: World) -> None:
        assert client.get(STAFF_ONLY, headers=world.auth("station")).status_code == 200

    @pytest.mark.parametrize(
        "key",
        [
            "mtk_0123456789ab_" + "A" * 43,  # well formed, unknown prefix
            "mtk_short_abc",  # prefix of the wrong length
            "not-a-station-key",
            "mtk__",
            "",  # an empty header is no credential at all
        ],
    )
    def test_unknown_or_malformed_key_is_401(
        self, key: str, client: TestClient, world: World
    ) -> None:
        r = client.get(STAFF_ONLY, headers={"X-API-Key": key})
        assert r.status_code == 401, r.text
        assert r.json()["error"] == "unauthorized"

    def test_known_prefix_with_wrong_secret_is_401(self, client: TestClient, world: World) -> None:
        prefix = world.station_key.rsplit("_", 1)[0]
        r = client.get(STAFF_ONLY, headers={"X-API-Key": prefix + "_" + "B" * 43})
        assert r.status_code == 401

    def test_revoked_key_is_401_and_other_stations_keep_working(
        self, client: TestClient, world: World
    ) -> None:
        r = client.post("/api/v1/stations/desk-1/revoke", headers=world.auth("admin"))
        assert r.status_code == 200 and r.json()["revoked"] is True
        r = client.get(STAFF_ONLY, headers=world.auth("station"))
        assert r.status_code == 401
        assert "revoked" in r.json()["detail"]
        other = {"X-API-Key": world.other_station_key}
        assert client.get(STAFF_ONLY, headers=other).status_code == 200
        again = client.post("/api/v1/stations/desk-1/revoke", headers=world.auth("admin"))
        assert again.status_code == 409

    def test_a_key_in_use_stops_working_within_a_second_of_its_revocation(
        self, client: TestClient, world: World, memory_lapses: Callable[[], None]
    ) -> None:
        """Keys let in are remembered for a second (app.auth.deps.Callers), not longer."""
        assert client.get(STAFF_ONLY, headers=world.auth("station")).status_code == 200
        r = client.post("/api/v1/stations/desk-1/revoke", headers=world.auth("admin"))
        assert r.status_code == 200
        # Within the second, the key is still remembered as let in...
        assert client.get(STAFF_ONLY, headers=world.auth("station")).status_code == 200
        memory_lapses()
        # ...and once it has passed, the database's answer counts.
        r = client.get(STAFF_ONLY, headers=world.auth("station"))
        assert r.status_code == 401 and "revoked" in r.json()["detail"]

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("GET", "/api/v1/where?q=RAD0000001"),
            ("POST", "/api/v1/carriers/RAD0000001/checkout"),
            ("POST", "/api/v1/carriers"),
            ("GET", "/api/v1/users"),
            ("GET", "/api/v1/audit/events"),
            ("GET", "/api/v1/borrowers"),
            ("GET", "/api/v1/studies/1.2.826.0.1.3680043.10.99.1"),
        ],
    )
    def test_a_station_key_never_opens_human_routes(
        self, method: str, path: str, client: TestClient, world: World
    ) -> None:
        r = client.request(method, path, json={}, headers=world.auth("station"))
        assert r.status_code == 403, r.text
        assert r.json()["error"] == "forbidden"

    @pytest.mark.parametrize("path", ["/api/v1/users", "/api/v1/stations/me", STAFF_ONLY])
    def test_a_token_and_a_key_together_are_refused_as_ambiguous(
        self, path: str, client: TestClient, world: World
    ) -> None:
        """Neither decides silently: not the key (a station passing itself off as an admin's
        request), not the token (an admin's request acting as a station)."""
        headers = {**world.auth("station"), **world.auth("admin")}
        r = client.get(path, headers=headers)
        assert r.status_code == 401, r.text
        assert r.json()["error"] == "unauthorized"
        assert "not both" in r.json()["detail"]
        for alone in ("station", "admin"):
            assert client.get(path, headers=world.auth(alone)).status_code in (200, 403)
