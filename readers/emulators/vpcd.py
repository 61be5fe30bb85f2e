"""A virtual tag on a virtual PC/SC reader, over vpcd's socket protocol.

Debian's ``vsmartcard-vpcd`` driver makes pcscd listen on a TCP port per reader slot. A client
connected there is a card in the slot; closing the connection removes it. Every message is a
big-endian ``uint16`` length and a payload: one byte is a control message (``00`` power off,
``01`` power on, ``02`` reset, ``04`` send the ATR), anything longer is a C-APDU answered with the
R-APDU (vsmartcard ``virtualsmartcard/src/vpcd/vpcd.c``).

We answer as an ACR122U-class contactless reader does (PC/SC 2.02 part 3 pseudo-APDUs, ACR122U
API v2.04): the reader builds the ATR from the tag type, GET DATA returns the UID, READ/UPDATE
BINARY map to the tag's pages or blocks, and ``FF 00 40`` drives the LED and buzzer.

Faults on demand (:class:`Faults`): leave mid-command, answer a status word such as ``63 00``,
answer slowly. Two tags at once are two :class:`VirtualTag` objects on the reader's two slots.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from readers.atr import build_part3_atr
from readers.emulators.tags import Chip, EmulatedTag, IcodeSlix, Nak, Ntag21x

# Status words, ISO 7816-4 §5.1.3 and PC/SC part 3 §3.2.2.1.
SW_OK = b"\x90\x00"
SW_FAILED = b"\x63\x00"  # operation failed: NAK, tag silent
SW_WRONG_LENGTH = b"\x67\x00"
SW_NOT_SUPPORTED = b"\x6a\x81"

# vpcd control messages are 00 power off, 01 power on, 02 reset, 04 get ATR; only the last
# needs an answer.
VPCD_GET_ATR = 0x04


@dataclass
class Faults:
    """Misbehaviour to apply to the next APDUs; change it at any time from a test."""

    #: close the connection instead of answering an APDU for which this returns True
    leave_when: Callable[[bytes], bool] | None = None
    #: answer this status word (with no data) to the next ``status_count`` APDUs
    status: bytes = SW_FAILED
    status_count: int = 0
    #: seconds to wait before each answer
    delay: float = 0.0


@dataclass
class LedCommand:
    """An ``FF 00 40`` LED/buzzer control the reader received (ACR122U API §6.2)."""

    led_state: int
    t1: int
    t2: int
    repetitions: int
    link: int


@dataclass
class VirtualTag:
    """One emulated tag that can be placed on and lifted from a vpcd reader slot."""

    tag: EmulatedTag
    port: int
    host: str = "127.0.0.1"
    faults: Faults = field(default_factory=Faults)
    leds: list[LedCommand] = field(default_factory=list)
    apdus: list[bytes] = field(default_factory=list)
    #: when (time.perf_counter) pcscd asked for the ATR since the tag was placed: it does on
    #: every presence poll (every 400 ms), so the first one is when the reader found the tag
    poll_times: list[float] = field(default_factory=list)
    _sock: socket.socket | None = None
    _thread: threading.Thread | None = None

    @property
    def atr(self) -> bytes:
        return build_part3_atr(self.tag.technology, self.tag.tag_type)

    @property
    def placed(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def place(self) -> None:
        """Put the tag on the reader: connect to the slot's vpcd port."""
        if self.placed:
            return
        sock = socket.create_connection((self.host, self.port), timeout=5)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.poll_times = []
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, args=(sock,), daemon=True,
                                        name=f"vpcd-tag-{self.tag.uid.hex()}")
        self._thread.start()

    def lift(self) -> None:
        """Take the tag off the reader: close the connection."""
        sock, thread = self._sock, self._thread
        self._sock = self._thread = None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by a fault or by pcscd going away
            sock.close()
        if thread is not None:
            thread.join(timeout=5)
        self.tag.deselect()

    # -- the socket loop --------------------------------------------------------------------

    def _serve(self, sock: socket.socket) -> None:
        try:
            while True:
                message = self._recv_message(sock)
                if message is None:
                    return
                if len(message) == 1:
                    if message[0] == VPCD_GET_ATR:
                        self.poll_times.append(time.perf_counter())
                        self._send(sock, self.atr)
                    continue  # power on/off/reset need no answer
                self.apdus.append(message)
                faults = self.faults
                if faults.leave_when is not None and faults.leave_when(message):
                    sock.close()
                    return
                if faults.delay:
                    time.sleep(faults.delay)  # the fault *is* a slow tag
                if faults.status_count > 0:
                    faults.status_count -= 1
                    self._send(sock, faults.status)
                    continue
                self._send(sock, self.respond(message))
        except OSError:
            return  # lifted, or pcscd went away

    @staticmethod
    def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
        buf = b""
        while len(buf) < n:
            # vpcd 0.8 sends length and payload in two send() calls; without QUICKACK each
            # message waits ~40 ms for Nagle x delayed ACK (measured: the payload came ~44 ms
            # after its length; with QUICKACK re-armed before every recv, 0.13 ms a round trip).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            chunk = sock.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    def _recv_message(self, sock: socket.socket) -> bytes | None:
        head = self._recv_exact(sock, 2)
        if head is None:
            return None
        (length,) = struct.unpack("!H", head)
        return self._recv_exact(sock, length)

    @staticmethod
    def _send(sock: socket.socket, payload: bytes) -> None:
        sock.sendall(struct.pack("!H", len(payload)) + payload)

    # -- the reader's pseudo-APDUs ----------------------------------------------------------

    def respond(self, apdu: bytes) -> bytes:
        """Answer one C-APDU as an ACR122U-class reader with this tag in its field would."""
        if len(apdu) < 5 or apdu[0] != 0xFF:
            return SW_NOT_SUPPORTED
        ins, p1, p2, p3 = apdu[1], apdu[2], apdu[3], apdu[4]
        tag = self.tag
        try:
            if ins == 0xCA and p1 == 0x00:  # GET DATA: UID
                uid = tag.uid
                # Readers return an ISO 15693 UID least significant byte first, as sent on air.
                return (uid[::-1] if tag.chip is Chip.SLIX else uid) + SW_OK
            if ins == 0xB0:  # READ BINARY, P2 = page/block, Le = bytes
                return self._read(tag, p2, p3 or 256) + SW_OK
            if ins == 0xD6:  # UPDATE BINARY, P2 = page/block, Lc = 4
                data = apdu[5 : 5 + p3]
                if p3 != 4 or len(data) != 4:
                    return SW_WRONG_LENGTH
                if isinstance(tag, Ntag21x):
                    tag.write(p2, data)
                else:
                    tag.write_block(p2, data)
                return SW_OK
            if ins == 0x00 and p1 == 0x40 and p3 == 4:  # ACR122U LED/buzzer control
                t1, t2, reps, link = apdu[5:9]
                self.leds.append(LedCommand(p2, t1, t2, reps, link))
                return SW_OK
        except Nak:
            return SW_FAILED
        return SW_NOT_SUPPORTED

    @staticmethod
    def _read(tag: EmulatedTag, first: int, length: int) -> bytes:
        if isinstance(tag, IcodeSlix):
            if length % 4:
                raise Nak("ISO 15693 reads whole blocks")
            return b"".join(tag.read_block(first + i) for i in range(length // 4))
        if length > 16:
            # The ACR122U reads at most 16 bytes (one READ command) per READ BINARY.
            raise Nak("too long")
        return tag.read(first)[:length]
