"""Reader drivers, tag labels and the station agent.

Importable without FastAPI, SQLModel or a database; talks to the service only over HTTP.
"""

from readers.base import EventKind, Reader, TagEvent, TagSession, TagType, Technology
from readers.errors import (
    ReaderError,
    ReaderUnavailableError,
    TagCapacityError,
    TagCommandError,
    TagError,
    TagFormatError,
    TagLostError,
    UnsupportedError,
)
from readers.registry import open_reader

__all__ = [
    "EventKind",
    "Reader",
    "ReaderError",
    "ReaderUnavailableError",
    "TagCapacityError",
    "TagCommandError",
    "TagError",
    "TagEvent",
    "TagFormatError",
    "TagLostError",
    "TagSession",
    "TagType",
    "Technology",
    "UnsupportedError",
    "open_reader",
]
