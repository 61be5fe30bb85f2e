from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, Field, WithJsonSchema

from app.core.principal import STAFF_ROLES, Role
from app.core.schemas import Strict
from app.core.validation import USERNAME_PATTERN, Name


def _staff_role(value: object) -> object:
    """Only staff roles are given to accounts; the internal ones are not even named."""
    if value not in [r.value for r in STAFF_ROLES]:
        raise ValueError(f"a staff role is one of {', '.join(r.value for r in STAFF_ROLES)}")
    return value


StaffRole = Annotated[
    Role,
    BeforeValidator(_staff_role),
    WithJsonSchema({"type": "string", "enum": [r.value for r in STAFF_ROLES]}),
]


class UserCreate(Strict):
    username: str = Field(pattern=USERNAME_PATTERN)
    display_name: Name
    role: StaffRole
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
