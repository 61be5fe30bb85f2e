"""The one reader interface every backend implements.

A :class:`Reader` watches one or more reader slots in a thread of its own and reports
:class:`TagEvent` values (tag arrived, tag removed, reader error) through :meth:`Reader.next_event`.
While a tag rests on the reader, :meth:`Reader.session` opens a :class:`TagSession` on it to read
and write NDEF or raw blocks.
"""

from __future__ import annotations

import abc
import enum
import queue
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

from readers.errors import UnsupportedError


class Technology(enum.StrEnum):
    """RF technology, spelled as the service's scans API expects it."""

    ISO14443A = "iso14443a"
    ISO14443B = "iso14443b"
    ISO15693 = "iso15693"
    FELICA = "felica"


class TagType(enum.StrEnum):
    """Chip families we recognise; the value is what the tag-binding API records."""

    NTAG213 = "NTAG213"
    NTAG215 = "NTAG215"
    NTAG216 = "NTAG216"
    MIFARE_ULTRALIGHT = "MIFARE Ultralight"
    MIFARE_CLASSIC_1K = "MIFARE Classic 1K"
    MIFARE_CLASSIC_4K = "MIFARE Classic 4K"
    ICODE_SLIX = "ICODE SLIX"
    TYPE3 = "FeliCa Type 3"
    TYPE4 = "ISO-DEP Type 4"


class EventKind(enum.StrEnum):
    ARRIVED = "arrived"
    REMOVED = "removed"
    ERROR = "error"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class TagEvent:
    """Something that happened on a reader.

    Attributes:
        kind: arrived, removed or error.
        reader: the reader (slot) name as the backend knows it.
        uid: upper-case hex UID without separators; ``None`` for reader errors.
        technology: RF technology of the tag, when known.
        tag_type: chip family, when the backend could tell.
        activation: the ATR (PC/SC) or SENS_RES+SEL_RES/ATQB/SENSF_RES (nfcpy) bytes.
        message: for errors, one sentence for the operator; empty otherwise.
        at: when the backend saw it (UTC).
    """

    kind: EventKind
    reader: str
    uid: str | None = None
    technology: Technology | None = None
    tag_type: TagType | None = None
    activation: bytes = b""
    message: str = ""
    at: datetime = field(default_factory=utc_now)


class TagSession(abc.ABC):
    """An open channel to the tag that is on the reader now.

    Every method raises :class:`~readers.errors.TagLostError` when the tag leaves the field and
    :class:`~readers.errors.TagCommandError` when the tag refuses a command.
    """

    uid: str
    technology: Technology
    tag_type: TagType | None

    @abc.abstractmethod
    def read_ndef(self) -> bytes:
        """Return the raw NDEF message (``b""`` when the tag is formatted but empty).

        Raises:
            TagFormatError: the tag holds no NDEF capability container or a broken TLV.
        """

    @abc.abstractmethod
    def write_ndef(self, message: bytes) -> None:
        """Replace the NDEF message.

        Raises:
            TagCapacityError: the message does not fit.
        """

    def read_blocks(self, start: int, count: int) -> bytes:
        """Read ``count`` raw memory blocks (4-byte pages on Type 2 and ICODE) from ``start``."""
        raise UnsupportedError("This reader cannot read raw blocks of this tag.")

    def write_block(self, block: int, data: bytes) -> None:
        """Write one raw memory block."""
        raise UnsupportedError("This reader cannot write raw blocks of this tag.")

    def make_read_only(self) -> None:
        """Lock the tag's NDEF area for ever (lock bits; cannot be undone)."""
        raise UnsupportedError("This reader cannot lock this tag.")

    def protect(self, password: bytes) -> None:
        """Protect the tag against writing with a 6-byte password (NTAG21x PWD + PACK, AUTH0)."""
        raise UnsupportedError("This reader cannot password-protect this tag.")


class Reader(abc.ABC):
    """A reader backend. Use as a context manager, or call :meth:`close`."""

    url: str

    def __init__(self) -> None:
        self._events: queue.Queue[TagEvent] = queue.Queue()

    def next_event(self, timeout: float | None = None) -> TagEvent | None:
        """Return the next event, or ``None`` after ``timeout`` seconds without one."""
        try:
            return self._events.get(timeout=timeout)
        except queue.Empty:
            return None

    def _emit(self, event: TagEvent) -> None:
        self._events.put(event)

    @contextmanager
    def session(self, event: TagEvent) -> Iterator[TagSession]:
        """Open a session on the tag that ``event`` reported as arrived.

        Raises:
            TagLostError: the tag is no longer on the reader.
        """
        tag_session = self._open_session(event)
        try:
            yield tag_session
        finally:
            self._close_session(tag_session)

    @abc.abstractmethod
    def _open_session(self, event: TagEvent) -> TagSession: ...

    def _close_session(self, tag_session: TagSession) -> None:  # noqa: B027 (optional hook)
        """Release what :meth:`_open_session` took; nothing by default."""

    def signal(self, event: TagEvent, ok: bool) -> None:  # noqa: B027 (optional hook)
        """Give the operator feedback (buzzer/LED) for the tag of ``event``, where the reader can.

        Best effort: a reader without a buzzer or a tag already gone is not an error.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Stop watching and release the reader."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
