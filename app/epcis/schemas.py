"""What an EPCIS export is asked for: the filters, resolved to ids and UTC bounds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# GS1 EPCIS 2.0 section 9.1 (JSON-LD binding): the context every document names. It is
# written out as text; nothing is fetched from it.
EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
# The media type of an EPCIS 2.0 JSON-LD document (EPCIS 2.0 section 12.3).
MEDIA_TYPE = "application/ld+json"


@dataclass(frozen=True)
class EventFilter:
    """Any combination; an event is exported when it matches every filter given."""

    carrier_id: int | None = None
    campaign_id: int | None = None
    since: datetime | None = None  # UTC, inclusive
    until: datetime | None = None  # UTC, exclusive
