"""Request-body base shared by every domain's schemas."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, field_validator


def _no_nul(value: object) -> object:
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("text may not contain a NUL character")
    if isinstance(value, list):
        for item in value:
            _no_nul(item)
    return value


class Strict(BaseModel):
    """Request bodies: unknown fields are an error (422), never silently dropped. Text is
    stripped of surrounding blanks after it passed its checks, so the checks the OpenAPI
    document states are the ones applied (app.core.validation)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul_in_text(cls, value: object) -> object:
        """PostgreSQL text cannot hold NUL: bad input here, not a failed insert (a 500)."""
        return _no_nul(value)

    @field_validator("*", mode="after")
    @classmethod
    def _strip_text(cls, value: object) -> object:
        return value.strip() if type(value) is str else value  # an enum member stays one
