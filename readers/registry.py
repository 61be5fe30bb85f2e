"""Open a reader by URL; each backend's module (and vendor library) is imported only when used.

==============================  =====================================================
URL                             backend
==============================  =====================================================
``pcsc://`` / ``pcsc://NAME``   every PC/SC reader, or those whose name contains NAME
``nfc://usb[:VID:PID]``         nfcpy on a USB PN53x / RC-S380 device
``nfc://udp:HOST:PORT``         nfcpy's ``udp`` driver (our tag emulator)
``wedge://stdin``               a keyboard-wedge reader typing into the terminal
``wedge:///dev/input/...``      a keyboard-wedge reader grabbed through evdev
``sim://``                      built-in emulated tags (demos, training)
==============================  =====================================================
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from readers.base import Reader
from readers.errors import ReaderUnavailableError

# The pyproject.toml extra that installs each backend's vendor library. wedge:// and sim://
# use only the standard library.
EXTRAS = {"pcsc": "pcsc", "nfc": "nfc"}


def open_reader(url: str) -> Reader:
    """Open the reader named by ``url``.

    Raises:
        ValueError: the URL names no backend we have.
        ReaderUnavailableError: the backend's library is not installed.
    """
    scheme, _, rest = url.partition("://")
    try:
        if scheme == "pcsc":
            from readers.backends.pcsc import PcscReader

            return PcscReader(unquote(rest))
        if scheme == "nfc":
            from readers.backends.nfc import NfcReader

            return NfcReader(rest)
        if scheme == "wedge":
            from readers.backends.wedge import open_wedge

            return open_wedge(urlsplit(url))
        if scheme == "sim":
            from readers.backends.sim import SimReader

            return SimReader(urlsplit(url).query)
    except ImportError as exc:
        if scheme in EXTRAS:
            raise ReaderUnavailableError(
                f"The {scheme}:// backend needs a library that is not installed ({exc.name}); "
                f"install mediatrack[{EXTRAS[scheme]}]."
            ) from exc
        raise ReaderUnavailableError(
            f"The {scheme}:// backend cannot import {exc.name}: it needs no extra package, only "
            "Python's standard library on Linux (wedge:// reads the kernel's evdev devices)."
        ) from exc
    raise ValueError(
        f"Unknown reader URL {url!r}; use pcsc://, nfc://usb, nfc://udp:HOST:PORT, wedge:// "
        "or sim://."
    )
