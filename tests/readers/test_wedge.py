"""wedge://: key events through a FIFO standing in for /dev/input/eventN (no uinput here)."""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from readers.backends.wedge import (
    EV_KEY,
    INPUT_EVENT,
    KEY_ENTER,
    KEY_LEFTSHIFT,
    LineAssembler,
    WedgeReader,
    decode_uid,
    open_wedge,
)
from readers.base import EventKind
from tests.readers.stacks import expect_event

# linux/input-event-codes.h: KEY_0 = 11, KEY_1..KEY_9 = 2..10, KEY_A = 30, KEY_B = 48, ...
CODES = {**{str(n): n + 1 for n in range(1, 10)}, "0": 11, "a": 30, "b": 48, "c": 46,
         "d": 32, "e": 18, "f": 33}
EV_SYN = 0


def _typed(text: str, shift: bool = False) -> bytes:
    """The raw input_event records a keyboard sends when typing ``text`` and Enter."""
    out = b""
    for char in text.lower():
        for value in (1, 0):
            if shift:
                out += INPUT_EVENT.pack(0, 0, EV_KEY, KEY_LEFTSHIFT, value)
            out += INPUT_EVENT.pack(0, 0, EV_KEY, CODES[char], value)
            out += INPUT_EVENT.pack(0, 0, EV_SYN, 0, 0)
    for value in (1, 0):
        out += INPUT_EVENT.pack(0, 0, EV_KEY, KEY_ENTER, value)
    return out


class TestDecodeUid:
    def test_decimal_lsb_first(self) -> None:
        # 0x80_5E_C3_B1 typed LSB first as decimal: bytes B1 C3 5E 80 -> UID 805EC3B1 reversed
        assert decode_uid(str(0xB1C35E80), fmt="dec", order="lsb") == "805EC3B1"
        assert decode_uid(str(0xB1C35E80), fmt="dec") == "B1C35E80"

    def test_hex(self) -> None:
        assert decode_uid("04a224b1c35e80") == "04A224B1C35E80"

    @pytest.mark.parametrize("text", ["xyz", "", "123"])
    def test_rejects(self, text: str) -> None:
        with pytest.raises(ValueError):
            decode_uid(text)


class TestLineAssembler:
    def test_shifted_hex_and_autorepeat_ignored(self) -> None:
        assembler = LineAssembler()
        lines = []
        for record in struct.iter_unpack("llHHi", _typed("04ab", shift=True)):
            _, _, ev_type, code, value = record
            if ev_type == EV_KEY and (line := assembler.feed(code, value)) is not None:
                lines.append(line)
        assert lines == ["04AB"]


class TestWedgeReader:
    def test_device_events(self, tmp_path: Path) -> None:
        fifo = tmp_path / "event0"
        os.mkfifo(fifo)
        with open_wedge(urlsplit(f"wedge://{fifo}?format=dec&order=lsb")) as reader:
            with open(fifo, "wb", buffering=0) as device:
                device.write(_typed(str(0xB1C35E80)))
                arrived = expect_event(reader, EventKind.ARRIVED)
                assert arrived.uid == "805EC3B1"
                assert arrived.reader == str(fifo)
                expect_event(reader, EventKind.REMOVED)
                device.write(_typed("ab"))  # letters from a wedge set to decimal
                error = expect_event(reader, EventKind.ERROR)
        assert "typed 2 characters" in error.message and "(dec)" in error.message

    def test_stdin_lines(self) -> None:
        with WedgeReader("wedge://stdin", stream=io.StringIO("04A224B1C35E80\n\n")) as reader:
            assert expect_event(reader, EventKind.ARRIVED).uid == "04A224B1C35E80"
            expect_event(reader, EventKind.REMOVED)
            assert reader.next_event(0.05) is None

    def test_no_sessions(self) -> None:
        with WedgeReader("wedge://stdin", stream=io.StringIO("04A2\n")) as reader:
            event = expect_event(reader, EventKind.ARRIVED)
            with pytest.raises(Exception, match="only read UIDs"), reader.session(event):
                pass

    def test_missing_device(self, tmp_path: Path) -> None:
        with open_wedge(urlsplit(f"wedge://{tmp_path}/nothing")) as reader:
            assert "Cannot open" in expect_event(reader, EventKind.ERROR).message
