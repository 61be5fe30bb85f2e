from __future__ import annotations

from pydantic import Field

from app.core.schemas import Strict
from app.core.validation import Technology


class TagBind(Strict):
    tag_uid: str = Field(min_length=1, max_length=64)
    technology: Technology = Technology.ISO14443A
    tag_type: str | None = Field(default=None, max_length=32, pattern=r"^[A-Za-z0-9 _\-]+$")
