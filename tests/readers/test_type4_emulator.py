"""The Type 4A emulator's own rules, where nfcpy does not go: APDU errors and ISO-DEP recovery."""

from __future__ import annotations

import pytest

from readers.emulators.type4 import ATS, IsoDepCard, NdefApplication, UdpType4Tag

SELECT_APP = bytes.fromhex("00A4040007D276000085010100")  # ISO 7816-4 SELECT by DF name, Le 00
SELECT_CC = bytes.fromhex("00A4000C02E103")  # SELECT by file identifier, no FCI
SELECT_NDEF = bytes.fromhex("00A4000C02E104")


@pytest.fixture
def app() -> NdefApplication:
    return NdefApplication(64)


class TestNdefApplication:
    def test_capability_container(self, app: NdefApplication) -> None:
        assert app.process(SELECT_APP) == b"\x90\x00"
        assert app.process(SELECT_CC) == b"\x90\x00"
        # CCLEN 000F, version 2.0, MLe 0100, MLc 00FF, TLV 04 06 E104 0040 00 00.
        assert app.process(bytes.fromhex("00B000000F")) == bytes.fromhex(
            "000F 20 0100 00FF 04 06 E104 0040 00 00 9000")
        app.writable = False
        assert app.process(bytes.fromhex("00B000000F"))[-3:] == b"\xff\x90\x00"

    def test_errors(self, app: NdefApplication) -> None:
        assert app.process(SELECT_CC) == b"\x6a\x82"  # no NDEF application selected yet
        assert app.process(bytes.fromhex("00A4040007D2760000850100")) == b"\x6a\x82"  # v1 AID
        assert app.process(bytes.fromhex("00B0000002")) == b"\x69\x86"  # no current EF
        app.process(SELECT_APP)
        assert app.process(bytes.fromhex("00A4000C02E105")) == b"\x6a\x82"  # no such file
        app.process(SELECT_NDEF)
        assert app.process(bytes.fromhex("00B0004102")) == b"\x6b\x00"  # offset past the end
        assert app.process(bytes.fromhex("00D6003F020102")) == b"\x6b\x00"  # 63 + 2 > 64
        assert app.process(bytes.fromhex("00D60000")) == b"\x67\x00"  # no data
        assert app.process(bytes.fromhex("00D6000003AABB")) == b"\x67\x00"  # Lc 3, 2 bytes
        assert app.process(bytes.fromhex("80B0000002")) == b"\x6e\x00"
        assert app.process(bytes.fromhex("00CA000002")) == b"\x6d\x00"
        app.process(SELECT_CC)
        assert app.process(bytes.fromhex("00D60000020000")) == b"\x69\x82"  # the CC is fixed

    def test_update_and_read(self, app: NdefApplication) -> None:
        app.process(SELECT_APP)
        app.process(SELECT_NDEF)
        assert app.process(bytes.fromhex("00D6000005 0003 D00000")) == b"\x90\x00"
        assert app.message == bytes.fromhex("D00000")
        assert app.process(bytes.fromhex("00B0000005")) == bytes.fromhex("0003D00000 9000")
        app.deselect()  # a new activation forgets the selection
        assert app.process(bytes.fromhex("00B0000002")) == b"\x69\x86"


class TestIsoDepCard:
    def test_needs_rats_then_numbers_blocks(self) -> None:
        card = IsoDepCard(lambda apdu: apdu[::-1])
        assert card.receive(b"\x02\x01\x02") is None  # no I-blocks before RATS
        assert card.rats(b"\xe0\x80") == ATS
        assert card.rats(b"\xe0\x80") is None  # once per activation
        assert card.receive(b"\x02\x01\x02") == b"\x02\x02\x01"  # block 0 answered as block 0
        assert card.receive(b"\x03\x03") == b"\x03\x03"

    def test_retransmission_and_presence(self) -> None:
        card = IsoDepCard(lambda apdu: b"\x90\x00")
        card.rats(b"\xe0\x80")
        answer = card.receive(b"\x02\x00\xa4")
        assert answer == b"\x02\x90\x00"
        assert card.receive(b"\xb2") == answer  # R(NAK), same number: our block got lost
        assert card.receive(b"\xb3") == b"\xa2"  # R(NAK), other number: presence check, R(ACK)
        assert card.receive(b"\xa3") is None  # R(ACK) outside a chain: nothing to continue

    def test_chaining_both_ways(self) -> None:
        card = IsoDepCard(lambda apdu: bytes(300) + b"\x90\x00" if len(apdu) == 400 else b"")
        card.rats(b"\xe0\x50")  # FSDI 5: FSD 64, so answers of 61 INF bytes at most
        assert card.receive(b"\x12" + bytes(200)) == b"\xa2"  # R(ACK) with our block number
        first = card.receive(b"\x03" + bytes(200))
        assert first is not None and first[0] == 0x13 and len(first) == 62  # chaining, block 1
        received = first[1:]
        number = 0
        while True:
            block = card.receive(bytes([0xA2 | number]))  # R(ACK) for the next piece
            assert block is not None and block[0] & 1 == number
            received += block[1:]
            if not block[0] & 0x10:
                break
            number ^= 1
        assert received == bytes(300) + b"\x90\x00"

    def test_deselect_and_wtx(self) -> None:
        card = IsoDepCard(lambda apdu: b"\x90\x00")
        card.rats(b"\xe0\x80")
        card.wtx = 1
        assert card.receive(b"\x02\x00") == b"\xf2\x01"  # S(WTX) request, WTXM 1
        assert card.receive(b"\xf2\x01") == b"\x02\x90\x00"  # granted: now the answer
        assert card.receive(b"\xc2") == b"\xc2"  # S(DESELECT) answered, then halted
        assert not card.active


def test_uid_must_have_seven_bytes() -> None:
    with pytest.raises(ValueError):
        UdpType4Tag(0, bytes(4))
