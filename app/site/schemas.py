from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from app.core.schemas import Strict
from app.core.validation import Name

# As a loan names it (custody.schemas.CheckOut).
PurposeCode = Annotated[str, Field(pattern=r"^[A-Z]{2,16}$")]


class SiteUpdate(Strict):
    """The site's name and its purposes of use; approval purposes are among the purposes."""

    site_name: Name
    purposes: list[PurposeCode] = Field(min_length=1, max_length=50)
    approval_purposes: list[PurposeCode] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _approval_among_purposes(self) -> SiteUpdate:
        if len(set(self.purposes)) != len(self.purposes):
            raise ValueError("a purpose is listed twice")
        if not set(self.approval_purposes) <= set(self.purposes):
            raise ValueError("an approval purpose is not among the purposes")
        return self
