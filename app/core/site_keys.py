"""The site keys tag labels are signed with (MEDIATRACK_SITE_KEYS_FILE, lines of
``<key id> <hex key>``, as the station agent's ``--site-keys``): the server checks a label a
phone read with them, and composes the label a station writes after "register this carrier"."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from app.core.errors import InvalidInputError
from readers.carrier_label import parse_keys


@lru_cache(maxsize=4)
def _read(path: Path | None, mtime: float) -> dict[int, bytes]:
    """The site keys, read again when the file changes (``mtime`` is part of the cache key)."""
    if path is None:
        return {}
    try:
        return parse_keys(path.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInputError("The site key file cannot be used: {exc}", exc=exc) from exc


def keys_of(path: Path | None) -> dict[int, bytes]:
    """The keys by id; empty when no file is configured (labels are then neither checked nor
    written by the service)."""
    mtime = path.stat().st_mtime if path is not None and path.exists() else 0.0
    return _read(path, mtime)
