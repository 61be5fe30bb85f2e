"""Emulated Type A tags for nfcpy's ``udp`` driver (``nfc/clf/udp.py``).

The driver sends each frame as one datagram ``b"<bitrate> <hex>"`` (e.g. ``b"106A 26"``) to
``host:port`` and takes the first answer of the same bitrate; it adds no CRC. Placing the tag is
binding the port and answering; lifting it is closing the socket, after which every command times
out, as for a tag that left the field.

``UdpTarget`` holds what every Type A tag answers alike: the socket, the thread, the faults and
the ISO/IEC 14443-3 activation of a 7-byte UID. Its subclasses answer what follows: ``UdpTag``
(here) the NTAG21x commands of a Type 2 tag, ``emulators.type4.UdpType4Tag`` ISO-DEP.

Frames we answer (ISO/IEC 14443-3 §6, NXP NTAG21x datasheet §10):

=================  ======================================================
reader sends       tag answers
=================  ======================================================
``26`` / ``52``    SENS_RES ``44 00`` (double-size UID)
``93 20``          CL1: ``88 u0 u1 u2 BCC0`` (cascade tag 88)
``93 70`` + CL1    SEL_RES ``04`` (UID not complete)
``95 20``          CL2: ``u3 u4 u5 u6 BCC1``
``95 70`` + CL2    SEL_RES: ``00`` for Type 2 (no ISO-DEP), ``20`` for Type 4
``30 pp``          READ: 16 bytes                          (Type 2 only)
``A2 pp d0..d3``   WRITE: ACK ``0A`` or NAK ``00``         (Type 2 only)
``60``             GET_VERSION: 8 bytes                    (Type 2 only)
``1B p0..p3``      PWD_AUTH: PACK, or NAK                  (Type 2 only)
``3C 00``          READ_SIG: 32 bytes                      (Type 2 only)
``1A 00``, ``50``  silence (no Ultralight C here; HLTA has no answer)
=================  ======================================================
"""

from __future__ import annotations

import select
import socket
import threading
import time
from binascii import hexlify, unhexlify

from readers.emulators.tags import Nak, Ntag21x
from readers.emulators.vpcd import Faults

ACK, NAK = b"\x0a", b"\x00"
# ISO/IEC 14443-3 Type A (§6): ATQA (SENS_RES), anticollision and select, SAK (SEL_RES).
SENS_RES = b"\x44\x00"  # ATQA: b8-7 = 01 double-size UID, b5-1 = 00100 bit frame anticollision
REQA, WUPA = b"\x26", b"\x52"  # short frames (7 bits)
SDD_CL1, SDD_CL2 = b"\x93\x20", b"\x95\x20"  # ANTICOLLISION, cascade level 1 / 2, NVB 20
SEL_CL1, SEL_CL2 = b"\x93\x70", b"\x95\x70"  # SELECT, cascade level 1 / 2, NVB 70 (+ 5 B)
CASCADE_TAG = 0x88  # CT: the UID continues at the next cascade level
SEL_RES_CASCADE = b"\x04"  # SAK b3 = 1: UID not complete
SEL_RES_TYPE2 = b"\x00"  # SAK b6 = 0: no ISO/IEC 14443-4 (NFC Digital: Type 2 platform)


class UdpTarget:
    """A Type A tag with a 7-byte UID where nfcpy's ``udp:HOST:PORT`` device talks to."""

    #: SEL_RES of the last cascade level, which tells the reader the tag's platform
    sel_res: bytes = SEL_RES_TYPE2

    def __init__(self, uid: bytes, port: int, host: str = "127.0.0.1",
                 faults: Faults | None = None) -> None:
        if len(uid) != 7:
            raise ValueError("the emulated Type A tags have 7-byte UIDs")
        self.uid, self.port, self.host = uid, port, host
        self.faults = faults or Faults()
        self.frames: list[bytes] = []  # every frame the reader sent, for the tests
        u = uid
        self._cl1 = bytes([CASCADE_TAG, u[0], u[1], u[2], CASCADE_TAG ^ u[0] ^ u[1] ^ u[2]])
        self._cl2 = bytes([u[3], u[4], u[5], u[6], u[3] ^ u[4] ^ u[5] ^ u[6]])
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

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
                                        name=f"udp-tag-{self.uid.hex()}")
        self._thread.start()

    def lift(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._sock is not None:
            self._sock.close()
        self._sock = self._thread = None
        self.reset()

    def _serve(self, sock: socket.socket) -> None:
        while not self._stop.is_set():
            if not select.select([sock], [], [], 0.05)[0]:
                continue
            datagram, addr = sock.recvfrom(1024)
            if datagram.startswith(b"RFOFF"):
                self.reset()  # the reader switched its field off
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
            answer = self.respond(frame)
            # nfcpy's udp driver takes the first answer that comes as the answer to the frame
            # it waits for. A frame already waiting behind this one means the reader stopped
            # waiting for this answer (it timed out, then retried or moved on; a busy test
            # machine can hold this thread that long): sent now, it would be taken as the
            # next frame's answer, e.g. one page's data for another's. A real reader ignores
            # an answer after its frame waiting time; staying silent is the same.
            if answer is not None and not select.select([sock], [], [], 0)[0]:
                sock.sendto(brty + b" " + hexlify(answer), addr)

    def respond(self, frame: bytes) -> bytes | None:
        """The tag's answer to one frame, or ``None`` for silence."""
        if frame in (REQA, WUPA):
            self.reset()  # REQA/WUPA start a new activation
            return SENS_RES
        if frame == SDD_CL1:
            return self._cl1
        if frame == SEL_CL1 + self._cl1:
            return SEL_RES_CASCADE
        if frame == SDD_CL2:
            return self._cl2
        if frame == SEL_CL2 + self._cl2:
            return self.sel_res
        return self.command(frame)

    def command(self, frame: bytes) -> bytes | None:
        """The answer to a frame after activation (ISO/IEC 14443-3 ACTIVE state)."""
        raise NotImplementedError

    def reset(self) -> None:
        """The tag lost power or is activated anew: forget the session state."""
        raise NotImplementedError


class UdpTag(UdpTarget):
    """One emulated NTAG21x (Type 2) on nfcpy's udp driver."""

    sel_res = SEL_RES_TYPE2

    def __init__(self, tag: Ntag21x, port: int, host: str = "127.0.0.1",
                 faults: Faults | None = None) -> None:
        self.tag = tag
        super().__init__(tag.uid, port, host, faults)

    def reset(self) -> None:
        self.tag.deselect()

    def command(self, frame: bytes) -> bytes | None:
        tag, faults = self.tag, self.faults
        command = frame[:1]
        if faults.status_count > 0 and command in (b"\x30", b"\xa2"):
            faults.status_count -= 1
            return NAK
        try:
            if command == b"\x30" and len(frame) == 2:  # READ (NTAG21x §10.2)
                return tag.read(frame[1])
            if command == b"\xa2" and len(frame) == 6:  # WRITE (§10.4)
                tag.write(frame[1], frame[2:6])
                return ACK
            if command == b"\x60":  # GET_VERSION (§10.1)
                return tag.get_version()
            if command == b"\x1b" and len(frame) == 5:  # PWD_AUTH (§10.7)
                return tag.pwd_auth(frame[1:5])
            if command == b"\x3c":  # READ_SIG (§10.8)
                return tag.read_sig()
        except Nak:
            return NAK
        return None
