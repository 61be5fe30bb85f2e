"""The nfc:// backend: real nfcpy, through its udp driver, against our emulated NTAG21x."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import ndef
import pytest

from readers.backends.nfc import NfcReader
from readers.base import EventKind, TagType, Technology
from readers.emulators.felica import UdpFelicaTag
from readers.emulators.tags import Ntag21x
from readers.emulators.udp import UdpTag
from readers.errors import TagCommandError, TagLostError, UnsupportedError
from tests.readers.stacks import expect_event

UID = bytes.fromhex("04300000000001")


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def port() -> int:
    return _free_udp_port()


@pytest.fixture
def emulated(port: int) -> Iterator[Callable[..., UdpTag]]:
    tags: list[UdpTag] = []

    def _make(tag_type: TagType = TagType.NTAG213, uid: bytes = UID) -> UdpTag:
        tag = UdpTag(Ntag21x(tag_type, uid), port)
        tags.append(tag)
        return tag

    yield _make
    for tag in tags:
        tag.lift()


@pytest.fixture
def reader(port: int) -> Iterator[NfcReader]:
    reader = NfcReader(f"udp:127.0.0.1:{port}")
    yield reader
    reader.close()


def _message(uri: str) -> bytes:
    return b"".join(ndef.message_encoder([ndef.UriRecord(uri)]))


class TestDetection:
    @pytest.mark.parametrize("tag_type", [TagType.NTAG213, TagType.NTAG215, TagType.NTAG216])
    def test_uid_and_type(self, reader: NfcReader, emulated: Callable[..., UdpTag],
                          tag_type: TagType) -> None:
        emulated(tag_type).place()
        event = expect_event(reader, EventKind.ARRIVED)
        assert event.uid == "04300000000001"
        assert event.technology is Technology.ISO14443A
        assert event.tag_type is tag_type  # nfcpy asked GET_VERSION
        assert event.activation == b"\x44\x00\x00"  # SENS_RES + SEL_RES

    def test_lift_and_place_again(self, reader: NfcReader,
                                  emulated: Callable[..., UdpTag]) -> None:
        tag = emulated()
        tag.place()
        expect_event(reader, EventKind.ARRIVED)
        tag.lift()
        assert expect_event(reader, EventKind.REMOVED).uid == "04300000000001"
        tag.place()
        expect_event(reader, EventKind.ARRIVED)

    def test_no_reader(self) -> None:
        with NfcReader("usb:ffff:fffe") as missing:
            error = expect_event(missing, EventKind.ERROR)
        assert "No NFC reader found at usb:ffff:fffe" in error.message


class TestSession:
    def test_ndef_write_and_read_back(self, reader: NfcReader,
                                      emulated: Callable[..., UdpTag]) -> None:
        tag = emulated(TagType.NTAG215)
        tag.place()
        event = expect_event(reader, EventKind.ARRIVED)
        message = _message("https://archive.example/c/DVD0001")
        with reader.session(event) as session:
            session.write_ndef(message)
            assert session.read_ndef() == message
            assert session.read_blocks(3, 1) == b"\xe1\x10\x3e\x00"
        assert tag.tag.memory[16 : 18 + len(message)] == bytes([3, len(message)]) + message

    def test_lifted_mid_write(self, reader: NfcReader, emulated: Callable[..., UdpTag]) -> None:
        tag = emulated()
        tag.place()
        event = expect_event(reader, EventKind.ARRIVED)
        tag.faults.leave_when = lambda frame: frame[:2] == b"\xa2\x06"
        with reader.session(event) as session, pytest.raises(TagLostError):
            session.write_ndef(_message("https://archive.example/c/DVD0001"))
        expect_event(reader, EventKind.REMOVED)

    def test_nak(self, reader: NfcReader, emulated: Callable[..., UdpTag]) -> None:
        tag = emulated()
        tag.place()
        event = expect_event(reader, EventKind.ARRIVED)
        with reader.session(event) as session:
            tag.faults.status_count = 1
            with pytest.raises(TagCommandError):
                session.write_block(4, b"\x03\x00\xfe\x00")

    def test_password_protection(self, reader: NfcReader,
                                 emulated: Callable[..., UdpTag]) -> None:
        tag = emulated()
        tag.place()
        event = expect_event(reader, EventKind.ARRIVED)
        message = _message("https://archive.example/c/DVD0001")
        with reader.session(event) as session:
            session.write_ndef(message)
            session.protect(b"s3cret")
        assert tag.tag.auth0 == 4  # after nfcpy's re-activation
        tag.lift()
        expect_event(reader, EventKind.REMOVED)
        tag.place()
        event = expect_event(reader, EventKind.ARRIVED)
        with reader.session(event) as session:
            assert session.read_ndef() == message  # reads stay open
            with pytest.raises((TagCommandError, UnsupportedError)):
                session.write_ndef(_message("https://forged.example/c/DVD0001"))
        assert tag.tag.memory[16 : 18 + len(message)] == bytes([3, len(message)]) + message

    def test_make_read_only(self, reader: NfcReader, emulated: Callable[..., UdpTag]) -> None:
        tag = emulated()
        tag.place()
        event = expect_event(reader, EventKind.ARRIVED)
        with reader.session(event) as session:
            session.write_ndef(_message("https://archive.example/c/DVD0001"))
            session.make_read_only()
        assert tag.tag.memory[15] == 0x0F and tag.tag.memory[10:12] == b"\xff\xff"

    def test_session_after_lift(self, reader: NfcReader,
                                emulated: Callable[..., UdpTag]) -> None:
        tag = emulated()
        tag.place()
        event = expect_event(reader, EventKind.ARRIVED)
        tag.lift()
        expect_event(reader, EventKind.REMOVED)
        with pytest.raises(TagLostError), reader.session(event):
            pass


class TestType3:
    def test_felica_ndef(self, port: int) -> None:
        tag = UdpFelicaTag(port)
        tag.place()
        try:
            with NfcReader(f"udp:127.0.0.1:{port}?targets=212F") as reader:
                event = expect_event(reader, EventKind.ARRIVED)
                assert (event.uid, event.technology, event.tag_type) == (
                    "02FE000000000001", Technology.FELICA, TagType.TYPE3)
                message = _message("https://archive.example/c/LTO0001")
                with reader.session(event) as session:
                    assert session.read_ndef() == b""
                    session.write_ndef(message)
                    assert session.read_ndef() == message
                    with pytest.raises(UnsupportedError, match="Type 2"):
                        session.read_blocks(0, 1)
                tag.lift()
                expect_event(reader, EventKind.REMOVED)
        finally:
            tag.lift()
        assert tag.memory[16 : 16 + len(message)] == message
