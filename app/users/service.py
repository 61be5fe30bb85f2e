from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from app.audit import service as audit_service
from app.core.db import independent_transaction
from app.core.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    TooManyRequestsError,
    UnauthorizedError,
)
from app.core.ids import id_of
from app.core.principal import STAFF_ROLES, Principal, Role
from app.core.security import hash_password, verify_password
from app.core.time import utcnow
from app.users.models import User
from app.users.schemas import UserCreate

# NIST SP 800-63B 5.2.2 allows up to 100; a small archive needs far fewer.
MAX_FAILED_LOGINS = 10
LOCK_MINUTES = 15


def _ensure_staff_role(role: Role) -> None:
    """Accounts hold staff roles; ``station`` and ``system`` belong to machines."""
    if role not in STAFF_ROLES:
        raise InvalidInputError(
            "Staff roles are {roles}.", roles=", ".join(r.value for r in STAFF_ROLES)
        )


def create(*, session: Session, user_in: UserCreate, by: Principal) -> User:
    _ensure_staff_role(user_in.role)
    if session.exec(select(User.id).where(User.username == user_in.username)).first():
        raise ConflictError("The user name {username} is taken.", username=user_in.username)
    user = User(
        username=user_in.username,
        display_name=user_in.display_name,
        role=user_in.role.value,
        password_hash=hash_password(user_in.password),
    )
    session.add(user)
    session.flush()
    audit_service.append(
        session,
        principal=by,
        action="admin_user_created",
        payload={"user_id": user.id, "username": user.username, "role": user.role},
    )
    return user


def get_by_username(*, session: Session, username: str) -> User:
    user = session.exec(select(User).where(User.username == username)).one_or_none()
    if user is None:
        raise NotFoundError("There is no user with that name.")
    return user


def authenticate(*, session: Session, username: str, password: str) -> User:
    """The user, if the password is right. Failures count; too many lock the account."""
    # A NUL cannot be in any user name (and PostgreSQL refuses to even compare with one).
    query = select(User).where(User.username == username)
    user = None if "\x00" in username else session.exec(query).one_or_none()
    now = utcnow()
    if user is not None and user.locked_until is not None and user.locked_until > now:
        raise TooManyRequestsError(
            "Too many failed logins for this account; try again in a few minutes."
        )
    if not verify_password(password, user.password_hash if user else None) or user is None:
        if user is not None:
            _count_failure(session, user_id=id_of(user), now=now)
        raise UnauthorizedError("Wrong user name or password.")
    if not user.active:
        raise UnauthorizedError("This account is disabled.")
    user.failed_logins, user.locked_until = 0, None
    session.add(user)
    return user


def _count_failure(session: Session, *, user_id: int, now: datetime) -> None:
    """Count a failed login in a transaction of its own: the request's own transaction is
    rolled back with the 401, and would take the count with it."""
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    with independent_transaction(engine, ending=session) as own:
        user = own.exec(select(User).where(User.id == user_id).with_for_update()).one()
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = now + timedelta(minutes=LOCK_MINUTES)
            user.failed_logins = 0
        own.add(user)


def deactivate(*, session: Session, username: str, by: Principal) -> User:
    """Disable an account. Refused for one's own account (another administrator does it) and
    for the last active administrator."""
    user = get_by_username(session=session, username=username)
    _keep_an_admin(session, user)
    if user.id is not None and user.id == by.user_id:
        raise ConflictError("You cannot deactivate your own account; ask another administrator.")
    user.active = False
    session.add(user)
    session.flush()
    audit_service.append(
        session,
        principal=by,
        action="admin_user_deactivated",
        payload={"user_id": user.id, "username": username},
    )
    return user


def change_role(*, session: Session, username: str, role: Role, by: Principal) -> User:
    """Give an account another staff role. Refused for one's own account and for the last
    active administrator."""
    _ensure_staff_role(role)
    user = get_by_username(session=session, username=username)
    if role != Role.ADMIN:
        _keep_an_admin(session, user)
    if user.id is not None and user.id == by.user_id:
        raise ConflictError("You cannot change your own role; ask another administrator.")
    before, user.role = user.role, role.value
    session.add(user)
    session.flush()
    audit_service.append(
        session,
        principal=by,
        action="admin_user_role_changed",
        payload={"user_id": user.id, "username": username, "from": before, "to": user.role},
    )
    return user


def _keep_an_admin(session: Session, user: User) -> None:
    if user.role == Role.ADMIN and user.active and count_admins(session=session) <= 1:
        raise ConflictError(
            "{username} is the last active administrator; make another one first.",
            username=user.username,
        )


def list_all(*, session: Session, offset: int, limit: int) -> tuple[list[User], int]:
    rows = session.exec(select(User).order_by(col(User.username)).offset(offset).limit(limit))
    return list(rows), session.exec(select(func.count()).select_from(User)).one()


def count_admins(*, session: Session) -> int:
    """Active administrators."""
    query = (
        select(func.count())
        .select_from(User)
        .where(User.role == Role.ADMIN.value, col(User.active).is_(True))
    )
    return session.exec(query).one()
