"""The readers' own exceptions.

Backends translate their vendor's exceptions (pyscard, nfcpy, evdev) into these at their edge,
``raise X(...) from exc``, so code above a backend never imports a vendor library. Every message
is one sentence an operator at a desk can act on, and never carries patient data.

Hierarchy::

    ReaderError
    ├── ReaderUnavailableError   the reader stack is down or the reader is not there
    ├── TagError                 something went wrong with the tag on the reader
    │   ├── TagLostError         the tag left the field during a command
    │   ├── TagCommandError      the tag or reader refused a command (status word, NAK)
    │   ├── TagFormatError       the tag's memory holds no valid NDEF or capability container
    │   └── TagCapacityError     the message does not fit on the tag
    └── UnsupportedError         the tag or reader cannot do what was asked
"""

from __future__ import annotations


class ReaderError(Exception):
    """Base of every error the readers package raises."""


class ReaderUnavailableError(ReaderError):
    """The reader stack (pcscd, USB device, input device) cannot be reached."""


class TagError(ReaderError):
    """A problem with the tag currently on the reader."""


class TagLostError(TagError):
    """The tag left the reader's field before a command finished."""


class TagCommandError(TagError):
    """The tag or the reader answered a command with an error status."""


class TagFormatError(TagError):
    """The tag's memory does not hold a valid capability container or NDEF message."""


class TagCapacityError(TagError):
    """The NDEF message is larger than the tag's data area."""


class UnsupportedError(ReaderError):
    """The tag or reader cannot perform the requested operation."""
