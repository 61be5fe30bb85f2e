"""The nfc:// backend: real nfcpy, through its udp driver, against our emulated tags.

Type 2: an NTAG21x (``emulators.udp``); Type 3: nfcpy's own FeliCa emulation; Type 4A: an ISO-DEP
tag with the NDEF Tag Application (``emulators.type4``).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import ndef
import pytest

from readers import open_reader
from readers.backends.nfc import NfcReader
from readers.base import EventKind, Reader, TagType, Technology
from readers.carrier_label import CarrierLabel, LabelCheck, decode_label, encode_label
from readers.emulators.felica import UdpFelicaTag
from readers.emulators.tags import Ntag21x
from readers.emulators.type4 import NdefApplication, UdpType4Tag
from readers.emulators.udp import UdpTag
from readers.errors import TagCapacityError, TagCommandError, TagLostError, UnsupportedError
from tests.readers.stacks import expect_event
from tests.support.ports import free_port

UID = bytes.fromhex("04300000000001")


@pytest.fixture
def port() -> int:
    return free_port(socket.SOCK_DGRAM)


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

    def test_lifted_mid_read(self, reader: NfcReader, emulated: Callable[..., UdpTag]) -> None:
        tag = emulated()
        tag.place()
        event = expect_event(reader, EventKind.ARRIVED)
        tag.faults.leave_when = lambda frame: frame == b"\x30\x04"  # READ of the NDEF TLV
        with reader.session(event) as session, pytest.raises(TagLostError):
            session.read_ndef()  # not "not NDEF-formatted": nfcpy hides the timeout
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


TYPE4_UID = bytes.fromhex("04300000000004")
KEY = bytes(range(32, 64))


@pytest.fixture
def type4(port: int) -> Iterator[Callable[..., UdpType4Tag]]:
    """Place a Type 4A tag on the udp port; every tag is lifted after the test."""
    tags: list[UdpType4Tag] = []

    def _place(ndef_size: int = 4096, *, writable: bool = True) -> UdpType4Tag:
        tag = UdpType4Tag(port, TYPE4_UID, NdefApplication(ndef_size, writable=writable))
        tags.append(tag)
        tag.place()
        return tag

    yield _place
    for tag in tags:
        tag.lift()


@pytest.fixture
def nfc_udp(port: int) -> Iterator[Reader]:
    """The nfc:// backend as a station opens it, on the udp driver."""
    with open_reader(f"nfc://udp:127.0.0.1:{port}") as reader:
        yield reader


def _message_of(size: int) -> bytes:
    """A URI record message of exactly ``size`` bytes."""
    uri = "https://archive.example/c/LTO0001?"
    for pad in range(size - len(_message(uri)), -1, -1):  # a short record is 3 bytes shorter
        if len(message := _message(uri + "x" * pad)) == size:
            return message
    raise ValueError(f"no URI message of {size} bytes")


def _sent_block(frames: list[bytes], pcb: int) -> bool:
    """Whether the reader sent a block with this PCB (ISO/IEC 14443-4 §7.1.1.1), either number."""
    return any(frame[:1] in (bytes([pcb]), bytes([pcb | 1])) for frame in frames)


class TestType4:
    def test_arrives_as_iso_dep_tag(self, nfc_udp: Reader,
                                    type4: Callable[..., UdpType4Tag]) -> None:
        tag = type4()
        event = expect_event(nfc_udp, EventKind.ARRIVED)
        assert (event.uid, event.technology, event.tag_type) == (
            "04300000000004", Technology.ISO14443A, TagType.TYPE4)
        assert event.activation == b"\x44\x00\x20"  # SENS_RES + SEL_RES (b6: ISO-DEP)
        assert b"\xe0\x80" in tag.frames  # nfcpy activated ISO-DEP with RATS, FSD 256
        tag.lift()
        assert expect_event(nfc_udp, EventKind.REMOVED).uid == "04300000000004"
        tag.place()
        assert expect_event(nfc_udp, EventKind.ARRIVED).uid == "04300000000004"

    def test_ndef_write_and_read_back(self, nfc_udp: Reader,
                                      type4: Callable[..., UdpType4Tag]) -> None:
        tag = type4()
        event = expect_event(nfc_udp, EventKind.ARRIVED)
        # 600 bytes: more than one frame each way, so nfcpy chains its UPDATE BINARY commands
        # and we chain our READ BINARY answers (MLc 255, MLe 256, FSC = FSD = 256).
        message = _message("https://archive.example/c/LTO0001?" + "x" * 560)
        with nfc_udp.session(event) as session:
            assert session.read_ndef() == b""
            session.write_ndef(message)
            assert session.read_ndef() == message
        assert tag.application.message == message
        assert tag.application.ndef_file[:2] == len(message).to_bytes(2, "big")  # NLEN
        tag.lift()  # and from a fresh activation, as the next station would
        expect_event(nfc_udp, EventKind.REMOVED)
        tag.place()
        event = expect_event(nfc_udp, EventKind.ARRIVED)
        with nfc_udp.session(event) as session:
            assert session.read_ndef() == message
        assert _sent_block(tag.frames, 0x12)  # I-block with chaining from the reader
        assert _sent_block(tag.frames, 0xA2)  # R(ACK) from the reader: our answer was chained

    def test_read_back_reads_the_tag(self, nfc_udp: Reader,
                                     type4: Callable[..., UdpType4Tag]) -> None:
        tag = type4()
        event = expect_event(nfc_udp, EventKind.ARRIVED)
        written, meanwhile = _message("https://a.example/c/1"), _message("https://b.example/c/2")
        with nfc_udp.session(event) as session:
            session.write_ndef(written)
            assert session.read_ndef() == written
            tag.application.ndef_file[: 2 + len(meanwhile)] = (
                len(meanwhile).to_bytes(2, "big") + meanwhile)  # not what nfcpy wrote
            assert session.read_ndef() == meanwhile  # from the tag, not nfcpy's memory

    def test_fills_the_ndef_file(self, nfc_udp: Reader,
                                 type4: Callable[..., UdpType4Tag]) -> None:
        tag = type4(1024)
        event = expect_event(nfc_udp, EventKind.ARRIVED)
        message = _message_of(1022)  # the NDEF file less its 2-byte NLEN
        with nfc_udp.session(event) as session:
            session.write_ndef(message)
        assert tag.application.message == message

    def test_too_large(self, nfc_udp: Reader, type4: Callable[..., UdpType4Tag]) -> None:
        tag = type4(256)
        event = expect_event(nfc_udp, EventKind.ARRIVED)
        message = _message_of(255)  # one byte more than 256 - NLEN
        with nfc_udp.session(event) as session, pytest.raises(TagCapacityError) as refused:
            session.write_ndef(message)
        assert str(refused.value) == ("The label needs 255 bytes but the tag holds 254; "
                                      "use a larger tag.")  # not an NTAG model's name
        assert tag.application.ndef_file == bytes(256)  # nothing written
        assert not any(frame[2:3] == b"\xd6" for frame in tag.frames)  # no UPDATE BINARY

    def test_read_only(self, nfc_udp: Reader, type4: Callable[..., UdpType4Tag]) -> None:
        tag = type4(writable=False)  # CC write access FF
        event = expect_event(nfc_udp, EventKind.ARRIVED)
        with nfc_udp.session(event) as session, pytest.raises(UnsupportedError, match="read-only"):
            session.write_ndef(_message("https://forged.example/c/LTO0001"))
        assert tag.application.ndef_file == bytes(4096)

    @pytest.mark.parametrize("refusal", ["access condition", "status fault"])
    def test_write_refused_by_the_tag(self, nfc_udp: Reader,
                                      type4: Callable[..., UdpType4Tag], refusal: str) -> None:
        tag = type4()
        event = expect_event(nfc_udp, EventKind.ARRIVED)
        with nfc_udp.session(event) as session:
            assert session.read_ndef() == b""  # nfcpy has read the CC: writable
            if refusal == "access condition":
                tag.application.writable = False  # UPDATE BINARY now answers 69 82
            else:
                tag.faults.status_count = 1  # the next APDU, an UPDATE BINARY, gets 63 00
            with pytest.raises(TagCommandError):
                session.write_ndef(_message("https://archive.example/c/LTO0001"))
            assert session.read_ndef() == b""  # the tag stays usable
        assert tag.application.message == b""

    def test_carrier_label_verifies(self, nfc_udp: Reader,
                                    type4: Callable[..., UdpType4Tag]) -> None:
        tag = type4()
        event = expect_event(nfc_udp, EventKind.ARRIVED)
        assert event.uid is not None
        carrier = CarrierLabel("LTO0001", "LTO-9", set_number=1, set_total=2)
        label = encode_label(carrier, uid=event.uid, public_url="https://archive.example",
                             key=KEY, key_id=2)
        with nfc_udp.session(event) as session:
            session.write_ndef(label)
        tag.lift()
        expect_event(nfc_udp, EventKind.REMOVED)
        tag.place()
        event = expect_event(nfc_udp, EventKind.ARRIVED)
        assert event.uid is not None
        with nfc_udp.session(event) as session:
            reading = decode_label(session.read_ndef(), uid=event.uid, keys={2: KEY})
        assert reading.check is LabelCheck.GENUINE
        assert reading.carrier == carrier
        assert reading.uri == "https://archive.example/c/LTO0001"
        # The MAC covers the UID: the same bytes on another tag do not verify.
        assert decode_label(label, uid="04300000000005", keys={2: KEY}).check is (
            LabelCheck.ALTERED)

    def test_waiting_time_extension(self, nfc_udp: Reader,
                                    type4: Callable[..., UdpType4Tag]) -> None:
        tag = type4()
        event = expect_event(nfc_udp, EventKind.ARRIVED)
        message = _message("https://archive.example/c/LTO0001")
        with nfc_udp.session(event) as session:
            tag.iso_dep.wtx = 2  # the tag asks twice for more time before its next answer
            session.write_ndef(message)
        assert tag.iso_dep.wtx == 0
        assert tag.frames.count(b"\xf2\x01") == 2  # nfcpy granted both S(WTX) requests
        assert tag.application.message == message

    def test_lifted_mid_write(self, nfc_udp: Reader, type4: Callable[..., UdpType4Tag]) -> None:
        tag = type4()
        event = expect_event(nfc_udp, EventKind.ARRIVED)
        tag.faults.leave_when = lambda frame: frame[2:3] == b"\xd6"  # at UPDATE BINARY
        with nfc_udp.session(event) as session, pytest.raises(TagLostError):
            session.write_ndef(_message("https://archive.example/c/LTO0001"))
        expect_event(nfc_udp, EventKind.REMOVED)
        assert tag.application.message == b""

    def test_lifted_mid_read(self, nfc_udp: Reader, type4: Callable[..., UdpType4Tag]) -> None:
        tag = type4()
        tag.application.ndef_file[:5] = b"\x00\x03\xd0\x00\x00"  # an empty record
        event = expect_event(nfc_udp, EventKind.ARRIVED)
        tag.faults.leave_when = lambda frame: frame[2:3] == b"\xb0"  # at READ BINARY
        with nfc_udp.session(event) as session, pytest.raises(TagLostError):
            session.read_ndef()
        expect_event(nfc_udp, EventKind.REMOVED)
