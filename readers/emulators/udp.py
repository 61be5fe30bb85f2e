"""An emulated NTAG21x for nfcpy's ``udp`` driver (``nfc/clf/udp.py``).

The driver sends each frame as one datagram ``b"<bitrate> <hex>"`` (e.g. ``b"106A 26"``) to
``host:port`` and takes the first answer of the same bitrate; it adds no CRC. Placing the tag is
binding the port and answering; lifting it is closing the socket, after which every command times
out, as for a tag that left the field.

Frames we answer (ISO/IEC 14443-3 §6, NXP NTAG21x datasheet §10):

=================  ======================================================
reader sends       tag answers
=================  ======================================================
``26`` / ``52``    SENS_RES ``44 00`` (double-size UID, no bit-frame anticollision)
``93 20``          CL1: ``88 u0 u1 u2 BCC0`` (cascade tag 88)
``93 70`` + CL1    SEL_RES ``04`` (UID not complete)
``95 20``          CL2: ``u3 u4 u5 u6 BCC1``
``95 70`` + CL2    SEL_RES ``00`` (complete, Type 2: no ISO-DEP)
``30 pp``          READ: 16 bytes
``A2 pp d0..d3``   WRITE: ACK ``0A`` or NAK ``00``
``60``             GET_VERSION: 8 bytes
``1B p0..p3``      PWD_AUTH: PACK, or NAK
``3C 00``          READ_SIG: 32 bytes
``1A 00``, ``50``  silence (no Ultralight C here; HLTA has no answer)
=================  ======================================================
"""

from __future__ import annotations

import select
import socket
import threading
import time
from binascii import hexlify, unhexlify
from dataclasses import dataclass, field

from readers.emulators.tags import Nak, Ntag21x
from readers.emulators.vpcd import Faults

ACK, NAK = b"\x0a", b"\x00"
SENS_RES = b"\x44\x00"
SEL_RES_CASCADE, SEL_RES_TYPE2 = b"\x04", b"\x00"


@dataclass
class UdpTag:
    """One emulated NTAG21x listening where nfcpy's ``udp:HOST:PORT`` device talks to."""

    tag: Ntag21x
    port: int
    host: str = "127.0.0.1"
    faults: Faults = field(default_factory=Faults)
    frames: list[bytes] = field(default_factory=list)
    _sock: socket.socket | None = None
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def placed(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def place(self) -> None:
        if self.placed:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((self.host, self.port))
        self._sock = sock
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, args=(sock,), daemon=True,
                                        name=f"udp-tag-{self.tag.uid.hex()}")
        self._thread.start()

    def lift(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._sock is not None:
            self._sock.close()
        self._sock = self._thread = None
        self.tag.deselect()

    def _serve(self, sock: socket.socket) -> None:
        while not self._stop.is_set():
            if not select.select([sock], [], [], 0.05)[0]:
                continue
            datagram, addr = sock.recvfrom(1024)
            if datagram.startswith(b"RFOFF"):
                self.tag.deselect()  # the reader switched its field off
                continue
            try:
                brty, payload = datagram.split()
            except ValueError:
                continue
            frame = unhexlify(payload)
            self.frames.append(frame)
            faults = self.faults
            if faults.leave_when is not None and faults.leave_when(frame):
                self._stop.set()  # the tag leaves the field: no answer, no more answers
                return
            if faults.delay:
                time.sleep(faults.delay)  # the fault *is* a slow tag
            if faults.status_count > 0 and frame[:1] in (b"\x30", b"\xa2"):
                faults.status_count -= 1
                answer: bytes | None = NAK
            else:
                answer = self.respond(frame)
            if answer is not None:
                sock.sendto(brty + b" " + hexlify(answer), addr)

    def respond(self, frame: bytes) -> bytes | None:
        """The tag's answer to one frame, or ``None`` for silence."""
        tag, uid = self.tag, self.tag.uid
        cl1 = bytes([0x88, uid[0], uid[1], uid[2], 0x88 ^ uid[0] ^ uid[1] ^ uid[2]])
        cl2 = bytes([uid[3], uid[4], uid[5], uid[6], uid[3] ^ uid[4] ^ uid[5] ^ uid[6]])
        if frame in (b"\x26", b"\x52"):
            tag.deselect()  # REQA/WUPA start a new activation
            return SENS_RES
        if frame == b"\x93\x20":
            return cl1
        if frame == b"\x93\x70" + cl1:
            return SEL_RES_CASCADE
        if frame == b"\x95\x20":
            return cl2
        if frame == b"\x95\x70" + cl2:
            return SEL_RES_TYPE2
        try:
            command = frame[:1]
            if command == b"\x30" and len(frame) == 2:
                return tag.read(frame[1])
            if command == b"\xa2" and len(frame) == 6:
                tag.write(frame[1], frame[2:6])
                return ACK
            if command == b"\x60":
                return tag.get_version()
            if command == b"\x1b" and len(frame) == 5:
                return tag.pwd_auth(frame[1:5])
            if command == b"\x3c":
                return tag.read_sig()
        except Nak:
            return NAK
        return None
