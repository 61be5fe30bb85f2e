"""Request-body base shared by every domain's schemas."""

from __future__ import annotations

from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from app.core.validation import BLANKS


def _no_nul(value: object) -> object:
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("text may not contain a NUL character")
    if isinstance(value, list):
        for item in value:
            _no_nul(item)
    return value


# Validation context of a web form (app.web.forms.valid): every field arrives as text there.
FORM_TEXT = "form_text"
NO_NUL = "^[^\\u0000]*$"


def _no_nul_schema(schema: dict[str, Any]) -> None:
    """The NUL rule in the document: text with no other pattern gets this one; text whose
    pattern is not anchored to a set of characters is told not to hold NUL."""

    def mark(node: Any) -> None:
        if not isinstance(node, dict):
            return
        if node.get("type") == "string" and "enum" not in node and "format" not in node:
            pattern = node.get("pattern")
            if pattern is None:
                node["pattern"] = NO_NUL
            elif not pattern.startswith("^["):
                node["not"] = {"pattern": "\\u0000"}
        for key in ("anyOf", "oneOf", "allOf"):
            for branch in node.get(key, []):
                mark(branch)
        mark(node.get("items"))

    for field in schema.get("properties", {}).values():
        mark(field)


_KIND_NAMES = {int: "a whole number", float: "a number", bool: "true or false"}
# (model class, field name) -> the scalar kinds its annotation allows.
_KINDS: dict[tuple[type, str], tuple[type, ...]] = {}


def _scalar_kinds(annotation: Any) -> tuple[type, ...]:
    """int, float, bool of a field typed as one (or as one or None)."""
    members = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else ()
    kinds = tuple(k for k in (members or (annotation,)) if k in (int, float, bool))
    others = [m for m in members if m not in (int, float, bool, type(None))]
    return () if others else kinds


class Strict(BaseModel):
    """Request bodies: unknown fields are an error (422), never silently dropped. Text is
    stripped of surrounding blanks after it passed its checks, so the checks the OpenAPI
    document states are the ones applied (app.core.validation)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=lambda s: _no_nul_schema(s))

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul_in_text(cls, value: object, info: ValidationInfo) -> object:
        """PostgreSQL text cannot hold NUL: bad input here, not a failed insert (a 500). A
        number or a yes/no is sent as one, never as text ("5", "true") or the other's kind,
        as the document says (pydantic alone would convert)."""
        # Worked out once per class and field: this runs for every field of every read of a
        # 500-read batch.
        key = (cls, info.field_name or "")
        kinds = _KINDS.get(key)
        if kinds is None:
            kinds = _KINDS[key] = _scalar_kinds(cls.model_fields[key[1]].annotation)
        if not kinds:
            return _no_nul(value)
        form = bool(info.context and info.context.get(FORM_TEXT))  # a web form's text fields
        mistyped = isinstance(value, str) or (isinstance(value, bool) and bool not in kinds)
        if not form and mistyped:
            sent = "text" if isinstance(value, str) else "true or false"
            wanted = " or ".join(_KIND_NAMES[k] for k in kinds)
            raise ValueError(f"give {wanted} as such, not {sent}")
        return _no_nul(value)

    @field_validator("*", mode="after")
    @classmethod
    def _strip_text(cls, value: object) -> object:
        return value.strip(BLANKS) if type(value) is str else value  # an enum member stays one
