"""An NFC Forum Type 3 (FeliCa Lite-class) tag, played by nfcpy itself on its ``udp`` driver.

nfcpy can emulate only Type 3 tags (``nfc.tag.tt3.Type3TagEmulation``); we give it an NDEF
memory and run it in listen mode on the udp driver, where ``nfc://udp:HOST:PORT?targets=212F``
reads it. Block 0 is the NDEF attribute information block (NFC Forum T3T 1.0 §7.1.1); NDEF
data follows from block 1, 16 bytes per block. Service 0x0009 reads and writes, 0x000B reads.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import nfc
import nfc.clf
import nfc.tag

BLOCK = 16
# SENSF_RES: response code 01, IDm (manufacturer 02FE = NFC Forum T3T), PMm, system code 12FC
# (the NDEF system code, T3T §4.2).
PMM = bytes.fromhex("FFFFFFFFFFFFFFFF")
SYSTEM_CODE_NDEF = bytes.fromhex("12FC")


def attribute_block(blocks: int, length: int, *, writable: bool = True) -> bytes:
    """T3T attribute block: version 1.0, Nbr 4, Nbw 4, Nmaxb, WriteF 0, RWFlag, Ln, checksum."""
    body = bytes([0x10, 4, 4, blocks >> 8, blocks & 0xFF, 0, 0, 0, 0, 0, int(writable),
                  length >> 16, (length >> 8) & 0xFF, length & 0xFF])
    total = sum(body)
    return body + bytes([total >> 8, total & 0xFF])


@dataclass
class UdpFelicaTag:
    port: int
    idm: bytes = bytes.fromhex("02FE000000000001")
    blocks: int = 12  # NDEF data blocks (FeliCa Lite-S: 13 user blocks incl. attribute)
    host: str = "127.0.0.1"
    memory: bytearray = field(init=False)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.memory = bytearray(BLOCK * (self.blocks + 1))
        self.memory[:BLOCK] = attribute_block(self.blocks, 0)

    def place(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="felica-tag")
        self._thread.start()

    def lift(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None

    def _read(self, block: int, rb: object, re: object) -> bytes | None:
        if block > self.blocks:
            return None
        return bytes(self.memory[block * BLOCK : (block + 1) * BLOCK])

    def _write(self, block: int, data: bytes, wb: object, we: object) -> bool:
        if block > self.blocks:
            return False
        self.memory[block * BLOCK : (block + 1) * BLOCK] = data
        return True

    def _serve(self) -> None:
        clf = nfc.ContactlessFrontend(f"udp:{self.host}:{self.port}")
        try:
            while not self._stop.is_set():
                target = nfc.clf.LocalTarget("212F")
                target.sensf_res = bytearray(b"\x01" + self.idm + PMM + SYSTEM_CODE_NDEF)
                # The udp driver's listen_ttf returns None when its deadline has passed, even
                # right after answering a SENSF_REQ, and the next listen ignores the reader's
                # commands until its next SENSF_REQ. A reader that missed us senses again every
                # 1.0 s (its sense timeout), so a listen window of 0.2 or 1.0 s ends in phase
                # with those retries; 2.5 s puts them mid-window.
                target = clf.listen(target, 2.5)
                if target is None:
                    continue
                tag = nfc.tag.emulate(clf, target)
                tag.add_service(0x0009, self._read, self._write)
                tag.add_service(0x000B, self._read, None)
                response = tag.process_command(tag.cmd)
                while not self._stop.is_set():
                    try:
                        command = clf.exchange(response, timeout=0.2)
                    except nfc.clf.TimeoutError:
                        # The reader is only slow: stay selected. Back in listen mode we would
                        # ignore every command until the next polling (SENSF_REQ).
                        response = None
                        continue
                    except nfc.clf.CommunicationError:
                        break  # the reader switched its field off (RFOFF)
                    response = tag.process_command(command)
        finally:
            clf.close()
