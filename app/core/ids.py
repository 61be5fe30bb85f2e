"""The id of a row that must already be in the database."""

from __future__ import annotations

from typing import Protocol


class _Row(Protocol):
    @property
    def id(self) -> int | None: ...


def id_of(row: _Row) -> int:
    """``row.id``; a row not yet flushed has none, and that is a bug, not foreign key 0."""
    if row.id is None:
        raise RuntimeError(f"{type(row).__name__} has no id yet: flush it before using its id")
    return row.id
