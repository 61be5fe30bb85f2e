"""The label format: round trip, and what the offline check says about edited or copied tags."""

from __future__ import annotations

import ndef
import pytest
from hypothesis import given
from hypothesis import strategies as st

from readers.carrier_label import (
    EXTERNAL_TYPE,
    KINDS,
    CarrierLabel,
    LabelCheck,
    decode_label,
    encode_label,
    parse_keys,
)

KEY = bytes(range(32))
KEYS = {1: KEY}
UID = "04A224B1C35E80"
URL = "https://mediatrack.hospital.example"


def _encode(carrier: CarrierLabel, uid: str = UID) -> bytes:
    return encode_label(carrier, uid=uid, public_url=URL, key=KEY, key_id=1)


class TestEncodeLabel:
    def test_records_and_uri(self) -> None:
        message = _encode(CarrierLabel("DVD0001", "DVD"))
        uri, ext = ndef.message_decoder(message)
        assert uri.iri == f"{URL}/c/DVD0001"
        assert ext.type == EXTERNAL_TYPE
        # version 1, ISO 28560-1 format 02 (CD/DVD), no set, key 1, then the label
        assert bytes(ext.data[:6]) == b"\x01\x02\x00\x00\x01\x07"

    def test_largest_label_fits_an_ntag213(self) -> None:
        message = _encode(CarrierLabel("A" * 16, "M-DISC", 255, 255))
        assert len(message) + 3 <= 144  # TLV header and terminator; NTAG213 user memory

    def test_tape_is_iso28560_magnetic_tape(self) -> None:
        _, ext = ndef.message_decoder(_encode(CarrierLabel("LTO0001", "LTO-9")))
        assert ext.data[1] == 0x03

    @pytest.mark.parametrize(
        "args",
        [("dvd1", "DVD"), ("A" * 17, "DVD"), ("DVD1", "VHS"), ("DVD1", "DVD", 1, None),
         ("DVD1", "DVD", 3, 2)],
    )
    def test_rejects_bad_carrier(self, args: tuple[object, ...]) -> None:
        with pytest.raises(ValueError):
            CarrierLabel(*args)  # type: ignore[arg-type]


class TestDecodeLabel:
    @given(
        label=st.from_regex(r"[A-Z0-9_]{1,16}", fullmatch=True),
        kind=st.sampled_from(KINDS),
        set_total=st.integers(1, 255),
        data=st.data(),
    )
    def test_round_trip(self, label: str, kind: str, set_total: int,
                        data: st.DataObject) -> None:
        carrier = CarrierLabel(label, kind, data.draw(st.integers(1, set_total)), set_total)
        reading = decode_label(_encode(carrier), uid=UID, keys=KEYS)
        assert reading.check is LabelCheck.GENUINE
        assert reading.carrier == carrier

    def test_copied_to_another_tag(self) -> None:
        message = _encode(CarrierLabel("DVD0001", "DVD"))
        reading = decode_label(message, uid="04A224B1C35E81", keys=KEYS)
        assert reading.check is LabelCheck.ALTERED
        assert "copied" in reading.message

    @given(st.data())
    def test_any_edited_byte_is_flagged(self, data: st.DataObject) -> None:
        message = bytearray(_encode(CarrierLabel("DVD0001", "DVD", 1, 2)))
        i = data.draw(st.integers(0, len(message) - 1))
        message[i] ^= data.draw(st.integers(1, 255))
        assert decode_label(bytes(message), uid=UID, keys=KEYS).check in (
            LabelCheck.ALTERED, LabelCheck.NOT_OURS, LabelCheck.UNKNOWN_KEY
        )

    def test_other_sites_key(self) -> None:
        message = encode_label(CarrierLabel("DVD0001", "DVD"), uid=UID, public_url=URL,
                               key=KEY, key_id=7)
        assert decode_label(message, uid=UID, keys=KEYS).check is LabelCheck.UNKNOWN_KEY

    def test_blank_and_foreign(self) -> None:
        assert decode_label(b"", uid=UID, keys=KEYS).check is LabelCheck.BLANK
        foreign = b"".join(ndef.message_encoder([ndef.UriRecord("https://example.org")]))
        assert decode_label(foreign, uid=UID, keys=KEYS).check is LabelCheck.NOT_OURS
        assert decode_label(b"\x91\x01", uid=UID, keys=KEYS).check is LabelCheck.NOT_OURS


class TestParseKeys:
    def test_reads_ids_and_keys(self) -> None:
        text = f"# site keys\n1 {KEY.hex()}\n2 {'ab' * 16}  # rotated 2026\n"
        assert parse_keys(text) == {1: KEY, 2: b"\xab" * 16}

    @pytest.mark.parametrize("text", ["1", "x " + "ab" * 16, "1 abcd", "300 " + "ab" * 16])
    def test_rejects(self, text: str) -> None:
        with pytest.raises(ValueError, match="line 1"):
            parse_keys(text)
