"""NDEF on 4-byte-block tag memory: NFC Forum Type 2 (NTAG21x) and Type 5 (ICODE SLIX).

Both keep a capability container (CC) and then a TLV area: ``03 L <NDEF> FE`` (NFC Forum T2T
1.0 §2.3, T5T 1.0 §4.3), with ``L`` as ``FF hi lo`` when the message is 255 bytes or longer,
``00`` NULL padding and ``01``/``02`` lock/memory control TLVs that readers skip. Backends give
this module a :class:`BlockDevice` (their READ/UPDATE BINARY or native commands) and get NDEF
reads and writes in the order NFC Forum T2T 1.0 §6.4.3 prescribes (length 0 first, set last).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Protocol

from readers.base import TagSession, TagType
from readers.errors import TagCapacityError, TagFormatError, UnsupportedError

BLOCK = 4
# TLV tags, NFC Forum T2T 1.0 §2.3.
TLV_NULL = 0x00
TLV_LOCK_CONTROL = 0x01
TLV_MEMORY_CONTROL = 0x02
TLV_NDEF = 0x03
TLV_TERMINATOR = 0xFE
# CC magic number: T2T §2.1 / T5T §4.1. E2 = T5T with 2-byte block addresses.
CC_MAGIC = (0xE1, 0xE2)
# CC access byte: 0x00 read/write, 0x0F read-only (T2T §2.1, byte 3).
CC_ACCESS_READ_ONLY = 0x0F


# Type 2 CC byte 2 (data area / 8) -> chip; NXP NTAG213/215/216 datasheet §8.5.6, Ultralight.
CC_SIZE_TYPES = {
    0x12: TagType.NTAG213,
    0x3E: TagType.NTAG215,
    0x6D: TagType.NTAG216,
    0x06: TagType.MIFARE_ULTRALIGHT,
}
# Page of the dynamic lock bytes, datasheet §8.5.3 (Ultralight has static locks only).
DYNAMIC_LOCK_PAGE = {TagType.NTAG213: 0x28, TagType.NTAG215: 0x82, TagType.NTAG216: 0xE2}


class BlockDevice(Protocol):
    """Raw 4-byte-block access to a tag, as a backend provides it."""

    def read(self, block: int, count: int) -> bytes: ...

    def write(self, block: int, data: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class NdefArea:
    """Where a tag's TLV area is and how big it is."""

    first_block: int
    capacity: int  # bytes in the TLV area
    read_only: bool


def type2_area(cc: bytes) -> NdefArea:
    """Parse a Type 2 CC (page 3): ``E1 10 size access``, data area = size x 8 bytes from page 4."""
    if len(cc) < BLOCK or cc[0] != 0xE1:
        raise TagFormatError("The tag is not NDEF-formatted (no capability container).")
    return NdefArea(first_block=4, capacity=cc[2] * 8, read_only=cc[3] == CC_ACCESS_READ_ONLY)


def type5_area(cc: bytes, blocks: int) -> NdefArea:
    """Parse a Type 5 CC (block 0): ``E1 40 MLEN features``; MLEN x 8 bytes, capped by memory."""
    if len(cc) < BLOCK or cc[0] not in CC_MAGIC:
        raise TagFormatError("The tag is not NDEF-formatted (no capability container).")
    # T5T §4.1: the access bits are b1-b0 of the version byte; 00 = always writable.
    read_only = cc[1] & 0x03 != 0
    # Tools disagree whether MLEN counts the CC block (a SLIX is commonly formatted
    # E1 40 0E 01), so the capacity is capped by the memory after the CC.
    capacity = min(cc[2] * 8, (blocks - 1) * BLOCK)
    return NdefArea(first_block=1, capacity=capacity, read_only=read_only)


def encode_tlv(message: bytes) -> bytes:
    """Wrap an NDEF message in its TLV and the terminator."""
    n = len(message)
    length = bytes([n]) if n < 0xFF else bytes([0xFF, n >> 8, n & 0xFF])
    return bytes([TLV_NDEF]) + length + message + bytes([TLV_TERMINATOR])


def read_ndef(device: BlockDevice, area: NdefArea) -> bytes:
    """Find the NDEF TLV in the area and return its message."""
    buf = bytearray()
    pos = 0
    end_block = area.first_block + area.capacity // BLOCK

    def need(upto: int) -> None:
        # Read whole 16-byte chunks: one READ BINARY on most readers (PC/SC part 3, Le=16).
        while len(buf) < upto:
            block = area.first_block + len(buf) // BLOCK
            if block >= end_block:
                raise TagFormatError("The tag's NDEF data runs past the end of its memory.")
            buf.extend(device.read(block, min(4, end_block - block)))

    while True:
        need(pos + 1)
        tag = buf[pos]
        if tag == TLV_NULL:
            pos += 1
            continue
        if tag == TLV_TERMINATOR:
            raise TagFormatError("The tag holds no NDEF message.")
        need(pos + 4)
        if buf[pos + 1] == 0xFF:
            length, header = (buf[pos + 2] << 8) | buf[pos + 3], 4
        else:
            length, header = buf[pos + 1], 2
        if tag == TLV_NDEF:
            need(pos + header + length)
            return bytes(buf[pos + header : pos + header + length])
        if tag not in (TLV_LOCK_CONTROL, TLV_MEMORY_CONTROL):
            raise TagFormatError(f"The tag holds an unknown TLV (0x{tag:02X}).")
        pos += header + length


def write_ndef(device: BlockDevice, area: NdefArea, message: bytes) -> None:
    """Write an NDEF message in the order T2T 1.0 §6.4.3 prescribes.

    The first block goes out with a zero length, then the rest of the message, then the first
    block again with the real length. A tag lifted half-way therefore holds an empty NDEF message,
    never a truncated one that a phone would misread.
    """
    if area.read_only:
        raise UnsupportedError("The tag is locked read-only; use a new tag.")
    tlv = encode_tlv(message)
    if len(tlv) > area.capacity:
        raise TagCapacityError(
            f"The label needs {len(tlv)} bytes but the tag holds {area.capacity}; "
            "use a larger tag (NTAG215 or NTAG216)."
        )
    tlv += bytes(-len(tlv) % BLOCK)
    header = 2 if len(message) < 0xFF else 4
    empty_first = bytes([TLV_NDEF]) + bytes(header - 1) + tlv[header:BLOCK]
    device.write(area.first_block, empty_first[:BLOCK])
    for i in range(BLOCK, len(tlv), BLOCK):
        device.write(area.first_block + i // BLOCK, tlv[i : i + BLOCK])
    device.write(area.first_block, tlv[:BLOCK])


def make_type2_read_only(device: BlockDevice, tag_type: TagType | None) -> None:
    """Set the CC to read-only, then the dynamic and static lock bits (T2T 1.0 §6.5)."""
    if tag_type not in DYNAMIC_LOCK_PAGE:
        raise UnsupportedError("Locking is supported for NTAG213/215/216 tags only.")
    # Page 3 is OTP: writing 0F into byte 3 sets the CC access byte to read-only.
    device.write(3, b"\x00\x00\x00\x0f")
    device.write(DYNAMIC_LOCK_PAGE[tag_type], b"\xff\xff\x00\x00")
    # Page 2 bytes 2-3 are the static lock bytes (pages 3-15); last, as they lock the CC.
    device.write(2, b"\x00\x00\xff\xff")


def protect_type2(device: BlockDevice, tag_type: TagType | None, password: bytes) -> None:
    """Password-protect writes from page 4 on an NTAG21x (datasheet §8.8).

    ``password`` is 6 bytes: PWD (4) and PACK (2), as nfcpy's ``NTAG21x.protect`` takes it.
    PWD and PACK go first, AUTH0 last, so a tag lifted half-way is never protected by a
    password that was not written. The chip applies AUTH0 from its next activation.
    """
    if tag_type not in DYNAMIC_LOCK_PAGE:
        raise UnsupportedError("Password protection is supported for NTAG213/215/216 only.")
    if len(password) != 6:
        raise ValueError("an NTAG password has 6 bytes (4 PWD + 2 PACK)")
    cfg0 = DYNAMIC_LOCK_PAGE[tag_type] + 1
    device.write(cfg0 + 2, password[:4])  # PWD
    device.write(cfg0 + 3, password[4:6] + b"\x00\x00")  # PACK, RFUI
    mirror, rfui, mirror_page, _auth0 = device.read(cfg0, 1)
    # AUTH0 = 4: pages 4 and up (the NDEF area and the configuration) need the password.
    device.write(cfg0, bytes([mirror, rfui, mirror_page, 0x04]))


class BlockTagSession(TagSession):
    """A session on a memory tag that the backend reaches block by block (Type 2 pages,
    Type 5 blocks): NDEF, raw blocks, locking and the password all go through this module,
    whichever backend moves the bytes. A backend sets ``_blocks`` and says where NDEF lives."""

    _blocks: BlockDevice

    @abc.abstractmethod
    def _area(self) -> NdefArea:
        """Where the NDEF TLV area is, from the tag's capability container."""

    def read_ndef(self) -> bytes:
        return read_ndef(self._blocks, self._area())

    def write_ndef(self, message: bytes) -> None:
        write_ndef(self._blocks, self._area(), message)

    def read_blocks(self, start: int, count: int) -> bytes:
        return self._blocks.read(start, count)

    def write_block(self, block: int, data: bytes) -> None:
        self._blocks.write(block, data)

    def make_read_only(self) -> None:
        make_type2_read_only(self._blocks, self.tag_type)

    def protect(self, password: bytes) -> None:
        protect_type2(self._blocks, self.tag_type, password)
