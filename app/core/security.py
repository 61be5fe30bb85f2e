"""Passwords (argon2), login tokens (JWT, HS256 only) and station API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import timedelta
from typing import Any

import jwt
from pwdlib import PasswordHash

from app.core.errors import UnauthorizedError
from app.core.time import utcnow

_passwords = PasswordHash.recommended()
# Verified against when the user does not exist, so both paths cost one argon2 run.
_DUMMY_HASH = _passwords.hash("not-a-real-password")
_ALGORITHM = "HS256"
KEY_PREFIX = "mtk"


def hash_password(password: str) -> str:
    return _passwords.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    ok = _passwords.verify(password, password_hash or _DUMMY_HASH)
    return ok and password_hash is not None


def issue_token(*, user_id: int, role: str, secret: str, minutes: int) -> str:
    now = utcnow()
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "role": role,
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(minutes=minutes),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def read_token(token: str, *, secret: str) -> int:
    """The user id a valid token names. Only HS256 is accepted (RFC 8725 section 3.1)."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[_ALGORITHM],
            options={"require": ["sub", "exp", "iat", "nbf"]},
        )
        return int(claims["sub"])
    except jwt.ExpiredSignatureError as exc:
        raise UnauthorizedError("Your session has expired; please log in again.") from exc
    except (jwt.InvalidTokenError, ValueError) as exc:
        raise UnauthorizedError("That login token is not valid; please log in again.") from exc


def new_api_key() -> tuple[str, str, str]:
    """(key, prefix, sha256 hex). The key is 256 random bits; only its hash is stored."""
    prefix = secrets.token_hex(6)
    key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    return key, prefix, hash_api_key(key)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_prefix(key: str) -> str | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != 12:
        return None
    return parts[1]


def api_key_matches(key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_api_key(key), stored_hash)
