"""What readers/ and app/ both spell out: neither imports the other, the HTTP API carries it."""

from __future__ import annotations

from app.core.validation import Technology as ServiceTechnology
from readers.base import Technology as ReaderTechnology


def test_technology_values_agree() -> None:
    """A station sends readers.base.Technology values; the scans and tags APIs accept these."""
    assert [t.value for t in ReaderTechnology] == [t.value for t in ServiceTechnology]
