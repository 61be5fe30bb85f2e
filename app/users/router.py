from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from app.auth.deps import require
from app.core.db import ReadSessionDep, SessionDep
from app.core.deps import Limit, Offset, SettingsDep
from app.core.ids import id_of
from app.core.principal import Principal
from app.core.security import issue_token
from app.core.validation import UsernamePath
from app.users import service
from app.users.schemas import Token, UserCreate, UserListPublic, UserPublic

router = APIRouter(tags=["users"])
Admin = Annotated[Principal, Depends(require("users.manage"))]


@router.post("/auth/token", response_model=Token)
def log_in(
    session: SessionDep,
    settings: SettingsDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> Token:
    """OAuth2 password flow: a short-lived bearer token for a member of staff."""
    user = service.authenticate(session=session, username=form.username, password=form.password)
    token = issue_token(
        user_id=id_of(user),
        role=user.role,
        secret=settings.secret_key,
        minutes=settings.TOKEN_MINUTES,
    )
    return Token(access_token=token, expires_in=settings.TOKEN_MINUTES * 60)


@router.post("/users", response_model=UserPublic, status_code=201)
def create_user(session: SessionDep, admin: Admin, user_in: UserCreate) -> UserPublic:
    user = service.create(session=session, user_in=user_in, by=admin)
    return UserPublic.model_validate(user, from_attributes=True)


@router.get("/users", response_model=UserListPublic)
def read_users(
    session: ReadSessionDep, _: Admin, offset: Offset = 0, limit: Limit = 100
) -> UserListPublic:
    rows, total = service.list_all(session=session, offset=offset, limit=limit)
    data = [UserPublic.model_validate(u, from_attributes=True) for u in rows]
    return UserListPublic(data=data, count=total)


@router.post("/users/{username}/deactivate", response_model=UserPublic)
def deactivate_user(session: SessionDep, admin: Admin, username: UsernamePath) -> UserPublic:
    user = service.deactivate(session=session, username=username, by=admin)
    return UserPublic.model_validate(user, from_attributes=True)
