"""Keyboard-wedge readers: USB readers that type the UID as keystrokes and Enter.

``wedge:///dev/input/by-id/usb-…-event-kbd?format=dec&order=lsb&bytes=4`` reads the kernel's
evdev interface directly: the device is grabbed (``EVIOCGRAB``) so the keystrokes do not also
land in whatever window has the focus, and the typed line is assembled from key events.
``wedge://stdin?...`` reads lines from standard input instead (a reader typing into the
terminal, or a person typing a UID).

Options: ``format`` ``hex`` (default) or ``dec`` (many wedges type the first 4 UID bytes as a
10-digit decimal number); ``order`` ``msb`` (default: as the tag sends its UID) or ``lsb`` (the
typed number's bytes are reversed); ``bytes`` for ``dec`` (default 4); ``tech`` the technology
to report (default ``iso14443a``). A wedge has no write path and no removal event: every line
is one tap, reported as arrived and removed at once.
"""

from __future__ import annotations

import fcntl
import os
import select
import stat
import struct
import sys
import threading
from typing import TextIO
from urllib.parse import SplitResult, parse_qs

from readers.base import EventKind, Reader, TagEvent, TagSession, Technology
from readers.errors import ReaderUnavailableError, UnsupportedError

# struct input_event on 64-bit Linux: struct timeval (2 longs), __u16 type, __u16 code,
# __s32 value (linux/input.h).
INPUT_EVENT = struct.Struct("llHHi")
EV_KEY = 0x01
KEY_DOWN = 1
# EVIOCGRAB = _IOW('E', 0x90, int) (linux/input.h).
EVIOCGRAB = 0x40044590
# Key codes, linux/input-event-codes.h.
KEY_LEFTSHIFT, KEY_RIGHTSHIFT, KEY_ENTER, KEY_KPENTER = 42, 54, 28, 96
KEY_CHARS = {
    2: "1", 3: "2", 4: "3", 5: "4", 6: "5", 7: "6", 8: "7", 9: "8", 10: "9", 11: "0",
    30: "a", 48: "b", 46: "c", 32: "d", 18: "e", 33: "f",
    79: "1", 80: "2", 81: "3", 75: "4", 76: "5", 77: "6", 71: "7", 72: "8", 73: "9", 82: "0",
}


class LineAssembler:
    """Turns key events into typed lines (digits and hex letters; Enter ends a line)."""

    def __init__(self) -> None:
        self._chars: list[str] = []
        self._shift = False

    def feed(self, code: int, value: int) -> str | None:
        if code in (KEY_LEFTSHIFT, KEY_RIGHTSHIFT):
            self._shift = value != 0  # 1 down, 2 autorepeat, 0 up
            return None
        if value != KEY_DOWN:
            return None
        if code in (KEY_ENTER, KEY_KPENTER):
            line, self._chars = "".join(self._chars), []
            return line
        char = KEY_CHARS.get(code)
        if char is not None:
            self._chars.append(char.upper() if self._shift else char)
        return None


def decode_uid(text: str, *, fmt: str = "hex", order: str = "msb", nbytes: int = 4) -> str:
    """The UID (upper-case hex, tag order) from what the wedge typed.

    Raises:
        ValueError: the text is not a UID in that format.
    """
    text = text.strip()
    if fmt == "dec":
        raw = int(text, 10).to_bytes(nbytes, "big")
    else:
        raw = bytes.fromhex(text)
    if not raw:
        raise ValueError("empty UID")
    return (raw[::-1] if order == "lsb" else raw).hex().upper()


class WedgeReader(Reader):
    def __init__(self, url: str, *, device: str | None = None, stream: TextIO | None = None,
                 fmt: str = "hex", order: str = "msb", nbytes: int = 4,
                 technology: Technology = Technology.ISO14443A) -> None:
        super().__init__()
        self.url = url
        self._device, self._stream = device, stream
        self._fmt, self._order, self._nbytes, self._technology = fmt, order, nbytes, technology
        self._stop = threading.Event()
        self._name = device or "stdin"
        target = self._read_device if device else self._read_stream
        self._thread = threading.Thread(target=target, name="wedge", daemon=True)
        self._thread.start()

    def _line(self, text: str) -> None:
        if not text.strip():
            return
        try:
            uid = decode_uid(text, fmt=self._fmt, order=self._order, nbytes=self._nbytes)
        except (ValueError, OverflowError):
            self._emit(TagEvent(EventKind.ERROR, self._name, message=(
                f"The reader typed {len(text.strip())} characters that are not a UID in the "
                f"configured format ({self._fmt}); check the wedge's output settings."
            )))
            return
        self._emit(TagEvent(EventKind.ARRIVED, self._name, uid=uid,
                            technology=self._technology))
        self._emit(TagEvent(EventKind.REMOVED, self._name, uid=uid))

    def _read_stream(self) -> None:
        assert self._stream is not None
        for line in self._stream:
            if self._stop.is_set():
                return
            self._line(line)

    def _read_device(self) -> None:
        assert self._device is not None
        try:
            fd = os.open(self._device, os.O_RDONLY)
        except OSError as exc:
            self._emit(TagEvent(EventKind.ERROR, self._name, message=(
                f"Cannot open the wedge reader {self._device} ({exc.strerror}); check that it "
                "is plugged in and that this user may read it (udev rule in hardware/)."
            )))
            return
        try:
            if stat.S_ISCHR(os.fstat(fd).st_mode):
                # Take the keyboard for ourselves: its keystrokes go nowhere else.
                fcntl.ioctl(fd, EVIOCGRAB, 1)
            assembler = LineAssembler()
            buf = b""
            while not self._stop.is_set():
                if not select.select([fd], [], [], 0.2)[0]:
                    continue
                chunk = os.read(fd, INPUT_EVENT.size * 64)
                if not chunk:
                    return  # device gone (unplugged) or writer closed
                buf += chunk
                while len(buf) >= INPUT_EVENT.size:
                    _, _, ev_type, code, value = INPUT_EVENT.unpack_from(buf)
                    buf = buf[INPUT_EVENT.size :]
                    if ev_type == EV_KEY:
                        line = assembler.feed(code, value)
                        if line is not None:
                            self._line(line)
        finally:
            os.close(fd)

    def _open_session(self, event: TagEvent) -> TagSession:
        raise UnsupportedError("A keyboard-wedge reader can only read UIDs; label tags on a "
                               "PC/SC or nfcpy reader.")

    def close(self) -> None:
        self._stop.set()
        if self._device:
            self._thread.join(timeout=5)


def open_wedge(url: SplitResult) -> WedgeReader:
    options = {k: v[0] for k, v in parse_qs(url.query).items()}
    fmt, order = options.get("format", "hex"), options.get("order", "msb")
    if fmt not in ("hex", "dec") or order not in ("msb", "lsb"):
        raise ValueError("wedge:// format is hex or dec, order is msb or lsb")
    nbytes = int(options.get("bytes", "4"))
    technology = Technology(options.get("tech", "iso14443a"))
    if url.netloc == "stdin":
        return WedgeReader(url.geturl(), stream=sys.stdin, fmt=fmt, order=order, nbytes=nbytes,
                           technology=technology)
    if not url.path:
        raise ReaderUnavailableError("wedge:// needs 'stdin' or an input device path.")
    return WedgeReader(url.geturl(), device=url.path, fmt=fmt, order=order, nbytes=nbytes,
                       technology=technology)
