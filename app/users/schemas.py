from __future__ import annotations

from pydantic import BaseModel, Field

from app.core.principal import Role
from app.core.schemas import Strict


class UserCreate(Strict):
    username: str = Field(pattern=r"^[a-z0-9._\-]{2,64}$")
    display_name: str = Field(min_length=1, max_length=120)
    role: Role
    password: str = Field(min_length=12, max_length=256)


class UserPublic(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    active: bool


class UserListPublic(BaseModel):
    data: list[UserPublic]
    count: int


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
