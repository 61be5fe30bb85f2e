"""ATRs that PC/SC contactless readers synthesise for storage tags (PC/SC 2.02 part 3 §3.1.3.2.3).

Layout: ``3B 8F 80 01 80 4F 0C A0 00 00 03 06 SS C0 C1 00 00 00 00 TCK``. ``80 4F 0C`` opens the
historical bytes' application identifier, ``A0 00 00 03 06`` is the PC/SC workgroup RID, ``SS``
the standard, ``C0 C1`` the card name (names as in pcsc-tools' ``smartcard_list.txt``), and TCK is
the XOR of T0 through the last historical byte (ISO 7816-3 §8.2.5).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from operator import xor

from readers.base import TagType, Technology

_PREFIX = bytes.fromhex("3B 8F 80 01 80 4F 0C A0 00 00 03 06")

# Standard byte SS: 03 ISO 14443A-3, 07 ISO 14443B-3, 09-0C ISO 15693 parts 1-4, 11 FeliCa.
_STANDARDS: dict[int, Technology] = {
    0x03: Technology.ISO14443A,
    0x07: Technology.ISO14443B,
    0x09: Technology.ISO15693,
    0x0A: Technology.ISO15693,
    0x0B: Technology.ISO15693,
    0x0C: Technology.ISO15693,
    0x11: Technology.FELICA,
}
# Card name C0 C1. 00 03 is MIFARE Ultralight *and* every NTAG21x: readers cannot tell them
# apart, so the backend reads the capability container to decide (see pcsc backend).
_NAMES: dict[bytes, TagType] = {
    b"\x00\x01": TagType.MIFARE_CLASSIC_1K,
    b"\x00\x02": TagType.MIFARE_CLASSIC_4K,
    b"\x00\x03": TagType.MIFARE_ULTRALIGHT,
    b"\x00\x14": TagType.ICODE_SLIX,
    b"\xf0\x11": TagType.TYPE3,
}
_STANDARD_OF: dict[Technology, int] = {
    Technology.ISO14443A: 0x03,
    Technology.ISO14443B: 0x07,
    Technology.ISO15693: 0x0B,  # readers report part 3
    Technology.FELICA: 0x11,
}
# NTAG21x share Ultralight's card name (above).
_NAME_OF: dict[TagType, bytes] = {
    **{v: k for k, v in _NAMES.items()},
    TagType.NTAG213: b"\x00\x03",
    TagType.NTAG215: b"\x00\x03",
    TagType.NTAG216: b"\x00\x03",
}


@dataclass(frozen=True, slots=True)
class AtrInfo:
    technology: Technology
    tag_type: TagType | None  # None for ISO 14443-4 cards and unknown names


def build_part3_atr(technology: Technology, tag_type: TagType | None) -> bytes:
    """The ATR a part 3 reader reports for a storage tag."""
    name = _NAME_OF.get(tag_type, b"\x00\x00") if tag_type else b"\x00\x00"
    body = _PREFIX + bytes([_STANDARD_OF[technology]]) + name + bytes(4)
    return body + bytes([reduce(xor, body[1:], 0)])


def parse_atr(atr: bytes) -> AtrInfo:
    """Technology and card name from an ATR; anything not part 3 is an ISO 14443-4 card."""
    if len(atr) == 20 and atr.startswith(_PREFIX):
        technology = _STANDARDS.get(atr[12], Technology.ISO14443A)
        return AtrInfo(technology, _NAMES.get(atr[13:15]))
    # 3B 8N 80 01 + ATS historical bytes: an ISO-DEP (Type 4) card on a contactless reader.
    return AtrInfo(Technology.ISO14443A, TagType.TYPE4 if atr[:1] == b"\x3b" else None)
