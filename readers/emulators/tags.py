"""Memory images and command behaviour of the tags we emulate.

Layouts follow NXP's NTAG213/215/216 datasheet (rev. 3.2, §8.5 memory organisation, §8.5.2
static lock bytes, §8.5.3 dynamic lock bytes, §8.8 password verification) and ICODE SLIX
(SL2S2002, 28 blocks of 4 bytes). A fresh tag is in its factory state: CC written, an empty NDEF
TLV ``03 00 FE`` at page 4, no password (AUTH0 = FF), nothing locked.
"""

from __future__ import annotations

import enum
import hashlib
import threading
from dataclasses import dataclass

from readers.base import TagType, Technology


class Nak(Exception):
    """The chip answers a command with a NAK (Type 2) or an error flag (ISO 15693)."""


@dataclass(frozen=True, slots=True)
class Ntag21xModel:
    tag_type: TagType
    pages: int
    cc_size: int  # CC byte 2: data area / 8
    version: bytes  # GET_VERSION answer, datasheet §10.1
    dynamic_lock_page: int
    lock_granularity: int  # pages per dynamic lock bit, datasheet §8.5.3

    @property
    def cfg0_page(self) -> int:
        return self.dynamic_lock_page + 1

    @property
    def last_user_page(self) -> int:
        return self.dynamic_lock_page - 1


NTAG_MODELS = {
    TagType.NTAG213: Ntag21xModel(TagType.NTAG213, 45, 0x12, bytes.fromhex("0004040201000F03"),
                                  0x28, 2),
    TagType.NTAG215: Ntag21xModel(TagType.NTAG215, 135, 0x3E, bytes.fromhex("0004040201001103"),
                                  0x82, 16),
    TagType.NTAG216: Ntag21xModel(TagType.NTAG216, 231, 0x6D, bytes.fromhex("0004040201001303"),
                                  0xE2, 16),
}


class Chip(enum.Enum):
    """What an emulated tag is, for transports that must answer differently per family."""

    NTAG = "ntag"
    SLIX = "slix"


class Ntag21x:
    """An NTAG213/215/216: 4-byte pages, native READ/WRITE/GET_VERSION/PWD_AUTH/READ_SIG."""

    chip = Chip.NTAG
    technology = Technology.ISO14443A

    def __init__(self, tag_type: TagType = TagType.NTAG213, uid: bytes | None = None) -> None:
        self.model = NTAG_MODELS[tag_type]
        self.tag_type = tag_type
        # NXP UIDs are 7 bytes and start with the manufacturer code 04 (ISO/IEC 7816-6).
        self.uid = uid or bytes.fromhex("04A224B1C35E80")
        if len(self.uid) != 7:
            raise ValueError("an NTAG21x UID has 7 bytes")
        self.lock = threading.Lock()
        self.authenticated = False
        m = self.model
        mem = bytearray(m.pages * 4)
        u = self.uid
        # Page 0: UID0-2 + BCC0 (cascade tag 0x88 XOR UID0-2); page 1: UID3-6;
        # page 2: BCC1, internal 0x48, static lock bytes 0/1 (datasheet §8.5.1).
        mem[0:4] = bytes([u[0], u[1], u[2], 0x88 ^ u[0] ^ u[1] ^ u[2]])
        mem[4:8] = u[3:7]
        mem[8:12] = bytes([u[3] ^ u[4] ^ u[5] ^ u[6], 0x48, 0x00, 0x00])
        mem[12:16] = bytes([0xE1, 0x10, m.cc_size, 0x00])
        mem[16:20] = bytes([0x03, 0x00, 0xFE, 0x00])
        # Dynamic lock bytes + RFUI 0xBD; CFG0 = MIRROR 04, RFUI, MIRROR_PAGE, AUTH0 FF;
        # CFG1 = ACCESS 00; PWD FF FF FF FF; PACK 00 00 (datasheet §8.5.7, factory values).
        dl = m.dynamic_lock_page * 4
        mem[dl : dl + 4] = bytes([0x00, 0x00, 0x00, 0xBD])
        mem[dl + 4 : dl + 8] = bytes([0x04, 0x00, 0x00, 0xFF])
        mem[dl + 8 : dl + 12] = bytes(4)
        mem[dl + 12 : dl + 16] = b"\xff\xff\xff\xff"
        mem[dl + 16 : dl + 20] = bytes(4)
        self.memory = mem
        self.deselect()

    # -- configuration pages -------------------------------------------------------------

    def _latch_config(self) -> None:
        # AUTH0 and PROT take effect at the next activation, not on the WRITE that sets them
        # (which is why nfcpy re-activates the tag after protect()).
        self.auth0 = self.memory[self.model.cfg0_page * 4 + 3]
        # ACCESS byte bit 7 = PROT: the password also guards reads (datasheet §8.5.7).
        self.read_protected = bool(self.memory[(self.model.cfg0_page + 1) * 4] & 0x80)

    def _page_locked(self, page: int) -> bool:
        lock0, lock1 = self.memory[10], self.memory[11]
        # Static lock bits: lock0 b3..b7 -> pages 3..7, lock1 b0..b7 -> pages 8..15 (§8.5.2).
        if 3 <= page <= 7:
            return bool(lock0 >> page & 1)
        if 8 <= page <= 15:
            return bool(lock1 >> (page - 8) & 1)
        if 16 <= page <= self.model.last_user_page:
            dl = self.model.dynamic_lock_page * 4
            bits = self.memory[dl] | self.memory[dl + 1] << 8
            return bool(bits >> ((page - 16) // self.model.lock_granularity) & 1)
        return False

    # -- native commands (NTAG21x datasheet §10) --------------------------------------------

    def read(self, page: int) -> bytes:
        """READ (30h): 16 bytes from ``page``, rolling over to page 0 at the end."""
        with self.lock:
            if page >= self.model.pages:
                raise Nak("address out of range")
            out = bytearray()
            for p in range(page, page + 4):
                p %= self.model.pages
                if self.read_protected and p >= self.auth0 and not self.authenticated:
                    raise Nak("read protected")
                # PWD and PACK always read as zeros.
                if p >= self.model.cfg0_page + 2:
                    out += bytes(4)
                else:
                    out += self.memory[p * 4 : p * 4 + 4]
            return bytes(out)

    def write(self, page: int, data: bytes) -> None:
        """WRITE (A2h) of one 4-byte page, with the datasheet's lock, OTP and password rules."""
        with self.lock:
            if len(data) != 4 or page >= self.model.pages or page < 2:
                raise Nak("address out of range")
            if page >= self.auth0 and not self.authenticated:
                raise Nak("write protected")
            if self._page_locked(page):
                raise Nak("page locked")
            off = page * 4
            if page == 2:
                # Only the two lock bytes are writable, and bits can only be set.
                self.memory[off + 2] |= data[2]
                self.memory[off + 3] |= data[3]
            elif page == 3 or page == self.model.dynamic_lock_page:
                # CC is one-time programmable; dynamic lock bits can only be set too.
                for i in range(4):
                    self.memory[off + i] |= data[i]
            else:
                self.memory[off : off + 4] = data

    def get_version(self) -> bytes:
        return self.model.version

    def pwd_auth(self, password: bytes) -> bytes:
        """PWD_AUTH (1Bh): the PACK on success, NAK otherwise."""
        with self.lock:
            pwd_at = (self.model.cfg0_page + 2) * 4
            if password != bytes(self.memory[pwd_at : pwd_at + 4]):
                raise Nak("wrong password")
            self.authenticated = True
            return bytes(self.memory[pwd_at + 4 : pwd_at + 6])

    def read_sig(self) -> bytes:
        """READ_SIG (3Ch): a 32-byte stand-in for NXP's ECC originality signature."""
        return hashlib.sha256(b"emulated NXP originality signature" + self.uid).digest()

    def deselect(self) -> None:
        """The tag left the field or was re-activated: authentication is gone (§8.8.1)."""
        self.authenticated = False
        self._latch_config()


class IcodeSlix:
    """An ICODE SLIX (ISO 15693): 28 blocks of 4 bytes, Type 5 CC in block 0."""

    chip = Chip.SLIX
    technology = Technology.ISO15693
    tag_type = TagType.ICODE_SLIX
    blocks = 28

    def __init__(self, uid: bytes | None = None) -> None:
        # ISO 15693 UID: E0, manufacturer 04 (NXP), IC type 01 (ICODE SLIX), then serial.
        self.uid = uid or bytes.fromhex("E004010012345678")
        if len(self.uid) != 8 or self.uid[0] != 0xE0:
            raise ValueError("an ISO 15693 UID has 8 bytes and starts with E0")
        self.lock = threading.Lock()
        self.memory = bytearray(self.blocks * 4)
        # CC E1 40 0E 01: NDEF magic, version 1.0 read/write, MLEN 14 (x8 bytes), read-multiple.
        self.memory[0:4] = bytes([0xE1, 0x40, 0x0E, 0x01])
        self.memory[4:8] = bytes([0x03, 0x00, 0xFE, 0x00])

    def read_block(self, block: int) -> bytes:
        with self.lock:
            if not 0 <= block < self.blocks:
                raise Nak("block not available")  # ISO 15693-3 error code 10h
            return bytes(self.memory[block * 4 : block * 4 + 4])

    def write_block(self, block: int, data: bytes) -> None:
        with self.lock:
            if not 0 <= block < self.blocks or len(data) != 4:
                raise Nak("block not available")
            self.memory[block * 4 : block * 4 + 4] = data

    def deselect(self) -> None:
        """Nothing survives a field reset that matters to us."""


EmulatedTag = Ntag21x | IcodeSlix
