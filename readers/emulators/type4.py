"""An NFC Forum Type 4A tag for nfcpy's ``udp`` driver.

Three layers, each its own class:

- ``NdefApplication``: the card's ISO/IEC 7816-4 file system with the NFC Forum NDEF Tag
  Application (Type 4 Tag Technical Specification 2.0): SELECT the application by name
  ``D2760000850101``, SELECT the capability container ``E103`` and the NDEF file ``E104`` by
  file identifier, READ BINARY and UPDATE BINARY. It takes a command APDU and returns the
  response APDU, so any transport can carry it.
- ``IsoDepCard``: the card's side of ISO/IEC 14443-4 (ISO-DEP) after RATS/ATS: I-blocks with
  block numbers and chaining in both directions, R(ACK)/R(NAK), S(WTX) and S(DESELECT), and the
  block numbering rule B (§7.5.3) and PICC rules 9-13 (§7.5.4) for retransmission and
  presence checks.
- ``UdpType4Tag``: the Type A activation of ``emulators.udp.UdpTarget`` with SEL_RES ``20``
  (ISO-DEP), then RATS and the ISO-DEP blocks, over nfcpy's udp driver.

nfcpy (``nfc/tag/tt4.py``) sends RATS ``E0 80`` (FSD 256, CID 0), takes FSC and FWI from the
ATS, then exchanges I-blocks without CID or NAD, checks presence with R(NAK) and reads the
capability container before anything else.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from readers.emulators.udp import UdpTarget
from readers.emulators.vpcd import Faults

# -- ISO/IEC 7816-4 status words (§5.1.3) ------------------------------------------------------
SW_OK = b"\x90\x00"  # normal processing
SW_WRONG_LENGTH = b"\x67\x00"  # wrong length (Lc or Le)
SW_SECURITY = b"\x69\x82"  # security status not satisfied (write access denied)
SW_NO_CURRENT_EF = b"\x69\x86"  # command not allowed: no current EF
SW_NOT_FOUND = b"\x6a\x82"  # file or application not found
SW_WRONG_P1P2 = b"\x6a\x86"  # incorrect parameters P1-P2
SW_OFFSET = b"\x6b\x00"  # wrong parameters P1-P2: offset outside the EF
SW_INS = b"\x6d\x00"  # instruction code not supported
SW_CLA = b"\x6e\x00"  # class not supported

# -- ISO/IEC 7816-4 instructions (§7) -----------------------------------------------------------
INS_SELECT = 0xA4  # §7.1.1 SELECT
INS_READ_BINARY = 0xB0  # §7.2.3 READ BINARY
INS_UPDATE_BINARY = 0xD6  # §7.2.5 UPDATE BINARY
SELECT_BY_NAME = 0x04  # SELECT P1 04: by DF name (the application identifier)
SELECT_BY_FID = 0x00  # SELECT P1 00: MF, DF or EF by file identifier

# -- NFC Forum Type 4 Tag 2.0: the NDEF Tag Application -----------------------------------------
NDEF_AID = bytes.fromhex("D2760000850101")  # NDEF Tag Application, mapping version 2.0
CC_FID = b"\xe1\x03"  # capability container file, fixed identifier
NDEF_FID = b"\xe1\x04"  # NDEF file; the CC's NDEF File Control TLV names it
MAPPING_VERSION = 0x20  # CC: mapping version 2.0
NDEF_FILE_CONTROL_TLV = 0x04  # CC: T = 04 (NDEF File Control), L = 06
ACCESS_GRANTED, ACCESS_DENIED = 0x00, 0xFF  # CC: read/write access condition bytes
NLEN_SIZE = 2  # the NDEF file starts with NLEN, 2 bytes big-endian

# -- ISO/IEC 14443-4 (ISO-DEP) -------------------------------------------------------------------
RATS = 0xE0  # §5.1: RATS = E0, then FSDI (b8-5) and CID (b4-1)
FSD_TABLE = (16, 24, 32, 40, 48, 64, 96, 128, 256)  # §5.1: FSDI 0..8 -> FSD in bytes
# §5.2 ATS: TL (length, itself included), T0 = 78 (TA, TB, TC follow; FSCI 8 = FSC 256),
# TA(1) = 00 (106 kbit/s only, both directions), TB(1) = A0 (FWI 10: FWT = 256 * 16 * 2^10 / fc
# = 309 ms, SFGI 0), TC(1) = 00 (neither NAD nor CID supported). No historical bytes.
ATS = bytes([0x05, 0x78, 0x00, 0xA0, 0x00])
PCB_I = 0x02  # §7.1.1.1 I-block: 000C DN1B (b5 chaining, b4 CID, b3 NAD, b1 block number)
PCB_CHAINING = 0x10
PCB_CID, PCB_NAD = 0x08, 0x04  # CID / NAD following: we announced neither in TC(1)
PCB_R_ACK, PCB_R_NAK = 0xA2, 0xB2  # R-block: 101N D01B (b5 N: 0 = ACK, 1 = NAK; b4 CID)
PCB_S_DESELECT, PCB_S_WTX = 0xC2, 0xF2  # S-block: 11xx D010 (b6-5: 00 DESELECT, 11 WTX)
WTXM = 1  # §7.3: waiting time extension multiplier 1..59
EDC = 2  # CRC_A bytes the frame size limits count, though the udp driver sends no CRC
SEL_RES_ISO_DEP = b"\x20"  # ISO/IEC 14443-3 SAK b6 = 1: ISO/IEC 14443-4 compliant (Type 4A)


class NdefApplication:
    """The NDEF Tag Application of a Type 4 tag: a CC file and an NDEF file.

    ``ndef_size`` is the NDEF file size (NLEN plus message; T4T 2.0 allows 0005h-FFFEh),
    ``writable`` is the CC's write access condition, which UPDATE BINARY enforces, so it can be
    changed at any time: nfcpy reads the CC once per activation. ``max_le`` and ``max_lc`` are
    the CC's MLe and MLc (the largest READ BINARY answer and UPDATE BINARY data).
    """

    def __init__(self, ndef_size: int = 4096, *, writable: bool = True, max_le: int = 0x0100,
                 max_lc: int = 0x00FF) -> None:
        if not 0x0005 <= ndef_size <= 0xFFFE:
            raise ValueError("a short NDEF File Control TLV holds a size of 0005h to FFFEh")
        self.writable = writable
        self.max_le, self.max_lc = max_le, max_lc
        self.ndef_file = bytearray(ndef_size)  # NLEN 0000: an empty NDEF message
        self.lock = threading.Lock()
        self.deselect()

    @property
    def capability_container(self) -> bytes:
        """The CC file: CCLEN, mapping version, MLe, MLc, NDEF File Control TLV (T4T 2.0)."""
        size = len(self.ndef_file)
        tlv = bytes([NDEF_FILE_CONTROL_TLV, 6, *NDEF_FID, size >> 8, size & 0xFF,
                     ACCESS_GRANTED, ACCESS_GRANTED if self.writable else ACCESS_DENIED])
        body = bytes([MAPPING_VERSION, self.max_le >> 8, self.max_le & 0xFF,
                      self.max_lc >> 8, self.max_lc & 0xFF]) + tlv
        return (2 + len(body)).to_bytes(2, "big") + body  # CCLEN 000F counts itself

    @property
    def message(self) -> bytes:
        """The NDEF message the file holds now (NLEN bytes after NLEN)."""
        with self.lock:
            nlen = int.from_bytes(self.ndef_file[:NLEN_SIZE], "big")
            return bytes(self.ndef_file[NLEN_SIZE : NLEN_SIZE + nlen])

    def deselect(self) -> None:
        """Power-on or a new activation: the MF is current, neither application nor file."""
        self.app_selected = False
        self.current: bytes | None = None  # the selected EF's identifier

    def process(self, apdu: bytes) -> bytes:
        """One short command APDU (ISO/IEC 7816-4 §5.1) -> response data and status word."""
        if len(apdu) < 4:
            return SW_WRONG_LENGTH
        cla, ins, p1, p2 = apdu[:4]
        body = apdu[4:]
        # Cases 1-4 of §5.1: no body; Le; Lc + data; Lc + data + Le (short lengths only).
        data, le = b"", 0
        if len(body) == 1:
            le = body[0] or 256  # Le 00 means 256
        elif body:
            lc = body[0]
            if lc == 0 or len(body) not in (1 + lc, 2 + lc):
                return SW_WRONG_LENGTH
            data = body[1 : 1 + lc]
            if len(body) == 2 + lc:
                le = body[-1] or 256
        if cla != 0x00:
            return SW_CLA
        with self.lock:
            if ins == INS_SELECT:
                return self._select(p1, p2, data)
            if ins == INS_READ_BINARY:
                return self._read_binary(p1 << 8 | p2, le)
            if ins == INS_UPDATE_BINARY:
                return self._update_binary(p1 << 8 | p2, data)
        return SW_INS

    def _select(self, p1: int, p2: int, data: bytes) -> bytes:
        if p1 == SELECT_BY_NAME and p2 == 0x00:  # first or only occurrence, return FCI
            if data != NDEF_AID:
                return SW_NOT_FOUND
            self.app_selected, self.current = True, None
            return SW_OK  # T4T 2.0: no FCI; the reader must not rely on any
        if p1 == SELECT_BY_FID and p2 == 0x0C:  # P2 0C: first or only occurrence, no FCI
            if not self.app_selected or data not in (CC_FID, NDEF_FID):
                return SW_NOT_FOUND
            self.current = data
            return SW_OK
        return SW_WRONG_P1P2

    def _file(self) -> bytes | bytearray | None:
        if self.current == CC_FID:
            return self.capability_container
        if self.current == NDEF_FID:
            return self.ndef_file
        return None

    def _read_binary(self, offset: int, le: int) -> bytes:
        content = self._file()
        if content is None:
            return SW_NO_CURRENT_EF
        if le == 0:
            return SW_WRONG_LENGTH
        if offset & 0x8000 or offset > len(content):  # P1 b8 = 1 would be a short EF id
            return SW_OFFSET
        return bytes(content[offset : offset + min(le, self.max_le)]) + SW_OK

    def _update_binary(self, offset: int, data: bytes) -> bytes:
        if self.current is None:
            return SW_NO_CURRENT_EF
        if self.current == CC_FID or not self.writable:
            return SW_SECURITY  # the CC is read-only; the NDEF file per its access condition
        if not data or len(data) > self.max_lc:
            return SW_WRONG_LENGTH
        if offset & 0x8000 or offset + len(data) > len(self.ndef_file):
            return SW_OFFSET
        self.ndef_file[offset : offset + len(data)] = data
        return SW_OK


class IsoDepCard:
    """The card (PICC) side of ISO/IEC 14443-4 half-duplex block transmission.

    ``apdu`` answers one complete command; this class cuts and joins the blocks around it.
    ``wtx`` asks for that many waiting time extensions before the next answer.
    """

    def __init__(self, apdu: Callable[[bytes], bytes]) -> None:
        self.apdu = apdu
        self.wtx = 0
        self.reset()

    def reset(self) -> None:
        """Not activated: only RATS opens ISO-DEP (§5)."""
        self.active = False
        self.fsd = FSD_TABLE[0]
        self.block = 1  # §7.5.3 rule B: the PICC block number is 1 at activation
        self.received = bytearray()  # a chained command being joined
        self.pending = b""  # the rest of a response still to send
        self.last: bytes | None = None  # the last block sent, for retransmission (rule 11)

    def rats(self, frame: bytes) -> bytes | None:
        if len(frame) != 2 or frame[0] != RATS or self.active:
            return None
        fsdi = frame[1] >> 4
        self.reset()
        self.fsd = FSD_TABLE[min(fsdi, 8)]  # FSDI 9-F are RFU: read as 8 (§5.1)
        self.active = True
        return ATS

    def receive(self, frame: bytes) -> bytes | None:
        """The answer to one block, or ``None`` (ignore: a block we cannot parse)."""
        if not self.active or not frame:
            return None
        pcb = frame[0]
        if pcb & 0xE2 == PCB_I and not pcb & (PCB_CID | PCB_NAD):  # I-block, no CID/NAD
            return self._i_block(pcb, frame[1:])
        if pcb & 0xEE == PCB_R_ACK:  # R-block (ACK or NAK), no CID
            return self._r_block(pcb)
        if pcb == PCB_S_DESELECT and len(frame) == 1:  # §8: answer, then HALT
            self.reset()
            return bytes([PCB_S_DESELECT])
        if pcb == PCB_S_WTX and len(frame) == 2 and self.last and self.last[0] == PCB_S_WTX:
            return self._answer()  # S(WTX) response: the reader agrees to wait
        return None

    def _send(self, block: bytes) -> bytes:
        self.last = block
        return block

    def _i_block(self, pcb: int, inf: bytes) -> bytes:
        # Rule 10: an I-block with a block number other than ours toggles ours.
        if pcb & 1 != self.block:
            self.block ^= 1
        self.received += inf
        if pcb & PCB_CHAINING:
            return self._send(bytes([PCB_R_ACK | self.block]))  # §7.5.2 chaining: R(ACK) each
        command, self.received = bytes(self.received), bytearray()
        self.pending = self.apdu(command)
        return self._answer()

    def _answer(self) -> bytes:
        if self.wtx > 0:  # rule 9: an S(WTX) may come instead of the I-block
            self.wtx -= 1
            return self._send(bytes([PCB_S_WTX, WTXM]))
        return self._send(self._next_i_block())

    def _next_i_block(self) -> bytes:
        room = self.fsd - 1 - EDC  # PCB + INF + CRC_A must fit the reader's FSD
        chunk, self.pending = self.pending[:room], self.pending[room:]
        chaining = PCB_CHAINING if self.pending else 0
        return bytes([PCB_I | chaining | self.block]) + chunk

    def _r_block(self, pcb: int) -> bytes | None:
        if pcb & 1 == self.block:  # rule 11: the reader missed our last block
            return self._send(self.last) if self.last is not None else None
        if pcb & 0x10:  # rule 12: R(NAK) for a block we never got (and presence checks)
            return bytes([PCB_R_ACK | self.block])
        if self.pending:  # rule 13: R(ACK) continues our chain; rule 10: toggle first
            self.block ^= 1
            return self._send(self._next_i_block())
        return None


class UdpType4Tag(UdpTarget):
    """An NFC Forum Type 4A tag on nfcpy's udp driver: 7-byte UID, ISO-DEP, NDEF application.

    ``faults.status_count`` answers the next APDUs with ``faults.status`` (as on vpcd), and
    ``iso_dep.wtx = n`` makes the tag ask for n waiting time extensions before its next answer.
    """

    sel_res = SEL_RES_ISO_DEP

    def __init__(self, port: int, uid: bytes = bytes.fromhex("04A24B1C35E880"),
                 application: NdefApplication | None = None, host: str = "127.0.0.1",
                 faults: Faults | None = None) -> None:
        self.application = application or NdefApplication()
        self.iso_dep = IsoDepCard(self._apdu)
        super().__init__(uid, port, host, faults)

    def _apdu(self, command: bytes) -> bytes:
        if self.faults.status_count > 0:
            self.faults.status_count -= 1
            return self.faults.status
        return self.application.process(command)

    def reset(self) -> None:
        self.iso_dep.reset()
        self.application.deselect()

    def command(self, frame: bytes) -> bytes | None:
        if not self.iso_dep.active:
            return self.iso_dep.rats(frame)
        return self.iso_dep.receive(frame)
