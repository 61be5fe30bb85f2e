"""Form fields into a service's schema, shared by the pages."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from app.core.errors import InvalidInputError
from app.core.schemas import FORM_TEXT
from app.web import i18n

Schema = TypeVar("Schema", bound=BaseModel)


def valid(model: type[Schema], **data: Any) -> Schema:
    """A form's fields as the service's schema; a bad field is a 422 naming the field only."""
    try:
        given = {k: v for k, v in data.items() if v not in ("", None)}
        return model.model_validate(given, context={FORM_TEXT: True})
    except ValidationError as exc:
        fields = sorted({str(e["loc"][0]) for e in exc.errors() if e.get("loc")})
        raise InvalidInputError(
            i18n.gettext("Check these fields: %(fields)s.", fields=", ".join(fields))
        ) from exc
