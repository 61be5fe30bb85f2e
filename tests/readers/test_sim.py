"""sim:// and the reader registry."""

from __future__ import annotations

import ndef
import pytest

from readers import open_reader
from readers.backends.sim import SimReader
from readers.base import EventKind, TagType, Technology
from readers.emulators.tags import IcodeSlix, Ntag21x
from readers.errors import TagCommandError, TagLostError
from tests.readers.stacks import expect_event

MESSAGE = b"".join(ndef.message_encoder([ndef.UriRecord("https://archive.example/c/CD1")]))


class TestSimReader:
    def test_place_session_lift(self) -> None:
        with SimReader() as reader:
            tag = Ntag21x(TagType.NTAG215)
            event = reader.place(tag)
            assert expect_event(reader, EventKind.ARRIVED) == event
            assert (event.uid, event.tag_type) == ("04A224B1C35E80", TagType.NTAG215)
            with reader.session(event) as session:
                session.write_ndef(MESSAGE)
                assert session.read_ndef() == MESSAGE
                session.make_read_only()
            reader.lift()
            assert expect_event(reader, EventKind.REMOVED).uid == event.uid
            with pytest.raises(TagLostError), reader.session(event):
                pass

    def test_password_protection_applies_from_the_next_placement(self) -> None:
        with SimReader() as reader:
            tag = Ntag21x()
            event = reader.place(tag)
            with reader.session(event) as session:
                session.write_ndef(MESSAGE)
                session.protect(b"pw1234")
                session.write_ndef(MESSAGE)  # still this activation: AUTH0 not yet applied
            reader.lift()
            event = reader.place(tag)
            with reader.session(event) as session, pytest.raises(TagCommandError):
                session.write_ndef(MESSAGE)

    def test_icode(self) -> None:
        with SimReader() as reader:
            event = reader.place(IcodeSlix())
            assert event.technology is Technology.ISO15693
            with reader.session(event) as session:
                session.write_ndef(MESSAGE)
                assert session.read_ndef() == MESSAGE

    def test_lifted_during_session(self) -> None:
        with SimReader() as reader:
            event = reader.place(Ntag21x())
            with reader.session(event) as session:
                reader.lift()
                with pytest.raises(TagLostError):
                    session.read_ndef()

    def test_demo_taps(self) -> None:
        reader = open_reader("sim://?tags=NTAG213:04000000000001,ICODE:E004010000000002"
                             "&tap_every=0.01")
        with reader:
            uids = [expect_event(reader, kind).uid
                    for kind in (EventKind.ARRIVED, EventKind.REMOVED) * 2]
        assert uids == ["04000000000001"] * 2 + ["E004010000000002"] * 2


class TestOpenReader:
    def test_unknown_scheme(self) -> None:
        with pytest.raises(ValueError, match="Unknown reader URL"):
            open_reader("serial:///dev/ttyUSB0")
