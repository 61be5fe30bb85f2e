"""The pcsc:// backend on real pyscard -> pcscd -> vpcd -> our virtual tags."""

from __future__ import annotations

import signal
from collections.abc import Callable

import ndef
import pytest

from readers.backends.pcsc import PcscReader
from readers.base import EventKind, TagType, Technology
from readers.emulators.tags import IcodeSlix, Ntag21x
from readers.emulators.vpcd import Faults, VirtualTag
from readers.errors import TagCapacityError, TagCommandError, TagLostError, UnsupportedError
from tests.readers.stacks import PcscStack, expect_event

Place = Callable[..., VirtualTag]


class TestDetection:
    @pytest.mark.parametrize(
        "tag_type", [TagType.NTAG213, TagType.NTAG215, TagType.NTAG216]
    )
    def test_ntag_uid_and_type(self, pcsc_reader: PcscReader, place: Place,
                               tag_type: TagType) -> None:
        place(Ntag21x(tag_type, uid=bytes.fromhex("04A224B1C35E80")))
        event = expect_event(pcsc_reader, EventKind.ARRIVED)
        assert event.uid == "04A224B1C35E80"
        assert event.technology is Technology.ISO14443A
        assert event.tag_type is tag_type
        assert event.activation.hex().upper() == "3B8F8001804F0CA000000306030003000000006" "8"

    def test_icode_slix_uid_normalised(self, pcsc_reader: PcscReader, place: Place) -> None:
        place(IcodeSlix(uid=bytes.fromhex("E004010012345678")), reader=1)
        event = expect_event(pcsc_reader, EventKind.ARRIVED)
        # The reader sends the UID least significant byte first; we report it E0 first.
        assert event.uid == "E004010012345678"
        assert event.technology is Technology.ISO15693
        assert event.tag_type is TagType.ICODE_SLIX

    def test_lift_reports_removed(self, pcsc_reader: PcscReader, place: Place) -> None:
        vtag = place(Ntag21x())
        arrived = expect_event(pcsc_reader, EventKind.ARRIVED)
        vtag.lift()
        removed = expect_event(pcsc_reader, EventKind.REMOVED)
        assert removed.uid == arrived.uid and removed.reader == arrived.reader

    def test_two_tags_at_once(self, pcsc: PcscStack, pcsc_reader: PcscReader,
                              place: Place) -> None:
        place(Ntag21x(uid=bytes.fromhex("04000000000001")), slot=0)
        place(Ntag21x(uid=bytes.fromhex("04000000000002")), slot=1)
        events = [expect_event(pcsc_reader, EventKind.ARRIVED) for _ in range(2)]
        assert {(e.reader, e.uid) for e in events} == {
            (pcsc.reader_name(0, 0), "04000000000001"),
            (pcsc.reader_name(0, 1), "04000000000002"),
        }

    def test_tag_answering_63_00_is_an_error_event(self, pcsc_reader: PcscReader,
                                                   place: Place) -> None:
        # Every APDU of the arrival answers 63 00.
        place(Ntag21x(), faults=Faults(status_count=10))
        error = expect_event(pcsc_reader, EventKind.ERROR)
        assert "63 00" in error.message and "place it again" in error.message


def _message(text: str) -> bytes:
    return b"".join(ndef.message_encoder([ndef.UriRecord(text)]))


class TestSession:
    @pytest.mark.parametrize("tag_type", [TagType.NTAG213, TagType.NTAG216])
    def test_ndef_write_and_read_back(self, pcsc_reader: PcscReader, place: Place,
                                      tag_type: TagType) -> None:
        vtag = place(Ntag21x(tag_type))
        event = expect_event(pcsc_reader, EventKind.ARRIVED)
        message = _message("https://archive.example/c/" + "A" * 16)
        with pcsc_reader.session(event) as tag:
            assert tag.read_ndef() == b""  # factory state: empty NDEF TLV
            tag.write_ndef(message)
            assert tag.read_ndef() == message
        # The bytes are where NFC Forum T2T puts them: 03 LL <message> FE from page 4.
        assert vtag.tag.memory[16 : 18 + len(message) + 1] == (
            bytes([0x03, len(message)]) + message + b"\xfe"
        )

    def test_long_message_uses_three_byte_length(self, pcsc_reader: PcscReader,
                                                 place: Place) -> None:
        place(Ntag21x(TagType.NTAG216))
        event = expect_event(pcsc_reader, EventKind.ARRIVED)
        message = _message("https://archive.example/" + "x" * 400)
        with pcsc_reader.session(event) as tag:
            tag.write_ndef(message)
            assert tag.read_ndef() == message

    def test_message_too_large_for_ntag213(self, pcsc_reader: PcscReader,
                                           place: Place) -> None:
        place(Ntag21x(TagType.NTAG213))
        event = expect_event(pcsc_reader, EventKind.ARRIVED)
        with pcsc_reader.session(event) as tag, pytest.raises(TagCapacityError, match="NTAG215"):
            tag.write_ndef(_message("https://archive.example/" + "x" * 200))

    def test_icode_slix_ndef_on_a_15693_reader(self, pcsc_reader: PcscReader,
                                               place: Place) -> None:
        vtag = place(IcodeSlix(), reader=1)
        event = expect_event(pcsc_reader, EventKind.ARRIVED)
        message = _message("https://archive.example/c/DVD0001")
        with pcsc_reader.session(event) as tag:
            tag.write_ndef(message)
            assert tag.read_ndef() == message
            assert tag.read_blocks(0, 1) == b"\xe1\x40\x0e\x01"
        assert vtag.tag.memory[4:6] == bytes([0x03, len(message)])

    def test_acr122u_profile_refuses_iso15693(self, pcsc_reader: PcscReader,
                                              place: Place) -> None:
        place(IcodeSlix(), reader=0)
        event = expect_event(pcsc_reader, EventKind.ARRIVED)
        with pytest.raises(UnsupportedError, match="ACR1552U"), pcsc_reader.session(event):
            pass

    def test_lifted_mid_write(self, pcsc_reader: PcscReader, place: Place) -> None:
        vtag = place(Ntag21x())
        event = expect_event(pcsc_reader, EventKind.ARRIVED)
        # Leave when the third page of the message is being written.
        vtag.faults.leave_when = lambda apdu: apdu[1] == 0xD6 and apdu[3] == 6
        with pcsc_reader.session(event) as tag, pytest.raises(TagLostError, match="place it back"):
            tag.write_ndef(_message("https://archive.example/c/DVD0001"))
        # T2T write order: the length was zeroed first, so the tag reads as empty, not torn.
        assert vtag.tag.memory[16:18] == b"\x03\x00"
        expect_event(pcsc_reader, EventKind.REMOVED)

    def test_63_00_during_read(self, pcsc_reader: PcscReader, place: Place) -> None:
        vtag = place(Ntag21x())
        event = expect_event(pcsc_reader, EventKind.ARRIVED)
        with pcsc_reader.session(event) as tag:
            vtag.faults.status_count = 1
            with pytest.raises(TagCommandError, match="63 00"):
                tag.read_ndef()
            assert tag.read_ndef() == b""  # the next try works

    def test_slow_tag_still_reads(self, pcsc_reader: PcscReader, place: Place) -> None:
        vtag = place(Ntag21x())
        event = expect_event(pcsc_reader, EventKind.ARRIVED)
        vtag.faults.delay = 0.2
        with pcsc_reader.session(event) as tag:
            assert tag.read_ndef() == b""

    def test_session_on_a_swapped_tag(self, pcsc_reader: PcscReader, place: Place) -> None:
        vtag = place(Ntag21x(uid=bytes.fromhex("04000000000001")))
        event = expect_event(pcsc_reader, EventKind.ARRIVED)
        vtag.tag.uid = bytes.fromhex("04000000000002")  # another tag, same slot
        with pytest.raises(TagLostError, match="different tag"), pcsc_reader.session(event):
            pass

    def test_make_read_only(self, pcsc_reader: PcscReader, place: Place) -> None:
        vtag = place(Ntag21x())
        event = expect_event(pcsc_reader, EventKind.ARRIVED)
        message = _message("https://archive.example/c/DVD0001")
        with pcsc_reader.session(event) as tag:
            tag.write_ndef(message)
            tag.make_read_only()
            assert tag.read_ndef() == message
            with pytest.raises(UnsupportedError, match="read-only"):
                tag.write_ndef(message)
            with pytest.raises(TagCommandError):
                tag.write_block(4, b"\x00\x00\x00\x00")  # the chip NAKs: page locked
        assert vtag.tag.memory[15] == 0x0F and vtag.tag.memory[10:12] == b"\xff\xff"

    def test_password_protection(self, pcsc: PcscStack, pcsc_reader: PcscReader,
                                 place: Place) -> None:
        vtag = place(Ntag21x(TagType.NTAG215))
        event = expect_event(pcsc_reader, EventKind.ARRIVED)
        message = _message("https://archive.example/c/DVD0001")
        with pcsc_reader.session(event) as tag:
            tag.write_ndef(message)
            tag.protect(b"pw1234")
        model = vtag.tag
        pwd = (0x83 + 2) * 4
        assert model.memory[pwd : pwd + 6] == b"pw1234" and model.memory[0x83 * 4 + 3] == 4
        vtag.lift()
        expect_event(pcsc_reader, EventKind.REMOVED)
        vtag.place()  # a new activation: AUTH0 now applies
        event = expect_event(pcsc_reader, EventKind.ARRIVED)
        with pcsc_reader.session(event) as tag:
            assert tag.read_ndef() == message  # reads stay open (PROT = 0)
            with pytest.raises(TagCommandError, match="63 00"):
                tag.write_ndef(_message("https://forged.example/c/DVD0001"))
        assert model.memory[16 : 18 + len(message)] == bytes([3, len(message)]) + message

    def test_feedback_on_acr122u(self, pcsc_reader: PcscReader, place: Place) -> None:
        vtag = place(Ntag21x())
        event = expect_event(pcsc_reader, EventKind.ARRIVED)
        pcsc_reader.signal(event, ok=True)
        pcsc_reader.signal(event, ok=False)
        assert [(c.led_state, c.repetitions) for c in vtag.leds] == [(0xA0, 1), (0x50, 3)]


@pytest.mark.slow
class TestPcscdRestart:
    def test_reader_recovers_after_each_pcscd_restart(self, pcsc: PcscStack,
                                                      pcsc_reader: PcscReader,
                                                      place: Place) -> None:
        vtag = place(Ntag21x())
        first = expect_event(pcsc_reader, EventKind.ARRIVED)
        for _ in range(2):
            pcsc.stop(signal.SIGKILL)
            # Every tag is reported gone, then one error for the operator, not one per retry.
            assert expect_event(pcsc_reader, EventKind.REMOVED).uid == first.uid
            error = expect_event(pcsc_reader, EventKind.ERROR)
            assert "pcscd" in error.message
            pcsc.start()
            vtag.lift()
            vtag.place()
            again = expect_event(pcsc_reader, EventKind.ARRIVED, timeout=15)
            assert again.uid == first.uid
