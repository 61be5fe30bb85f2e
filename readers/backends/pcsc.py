"""PC/SC readers through pyscard: ``pcsc://`` (every reader) or ``pcsc://<name part>``.

A supervisor thread of our own runs ``SCardGetStatusChange`` over the matching readers; we do
not use pyscard's ``CardMonitor``: its process-wide monitoring thread prints a traceback and ends
when pcscd is killed, and after a restart a new observer gets no events, since the singleton still
holds the dead thread. When pcscd goes away the thread reports one error, tells the agent
every tag is gone, and re-establishes its context with backoff until pcscd is back.

Supported hardware (what the profiles below encode):

=====================  ==========  ==================  ======================================
reader                 ISO 14443A  ISO 15693 (SLIX)    feedback
=====================  ==========  ==================  ======================================
ACS ACR122U            yes         no                  LED + buzzer, ``FF 00 40`` (API §6.2)
ACS ACR1252U           yes         no                  none through PC/SC transmit
ACS ACR1552U           yes         READ/UPDATE BINARY  none through PC/SC transmit
Identiv uTrust 3700 F  yes         READ/UPDATE BINARY  none
HID OMNIKEY 5022/5422  yes         READ/UPDATE BINARY  none
=====================  ==========  ==================  ======================================
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from smartcard import scard

from readers import tlv
from readers.atr import parse_atr
from readers.base import EventKind, Reader, TagEvent, TagSession, TagType, Technology
from readers.errors import (
    ReaderError,
    ReaderUnavailableError,
    TagCommandError,
    TagLostError,
    UnsupportedError,
)

log = logging.getLogger(__name__)

# pcsc-lite's name for the pseudo-reader that changes state when readers come and go.
PNP_NOTIFICATION = "\\\\?PnP?\\Notification"
STATUS_TIMEOUT_MS = 1000

# APDUs, PC/SC 2.02 part 3 §3.2.2.1 (CLA FF is the reader itself, not the tag).
GET_UID = [0xFF, 0xCA, 0x00, 0x00, 0x00]  # GET DATA, P1 00 = UID, Le 00 = all of it

_SERVICE_GONE = {
    scard.SCARD_E_NO_SERVICE,
    scard.SCARD_E_SERVICE_STOPPED,
    scard.SCARD_F_COMM_ERROR,
    scard.SCARD_E_INVALID_HANDLE,
    # Observed: libpcsclite 1.9.9 answers a pending SCardGetStatusChange with "access denied"
    # when pcscd dies under it.
    scard.SCARD_W_SECURITY_VIOLATION,
}
_READER_GONE = {
    scard.SCARD_E_NO_READERS_AVAILABLE,
    scard.SCARD_E_UNKNOWN_READER,
    scard.SCARD_E_READER_UNAVAILABLE,
}
_TAG_GONE = {
    scard.SCARD_W_REMOVED_CARD,
    scard.SCARD_E_NO_SMARTCARD,
    scard.SCARD_W_RESET_CARD,
    scard.SCARD_W_UNRESPONSIVE_CARD,
    scard.SCARD_W_UNPOWERED_CARD,
    scard.SCARD_E_NOT_TRANSACTED,
}

MSG_NO_SERVICE = "The PC/SC service (pcscd) is not running; start it with 'systemctl start pcscd'."
MSG_NO_READER = "The card reader is not connected; plug it in again."
MSG_TAG_LOST = "The tag left the reader during the operation; place it back and try again."


@dataclass(frozen=True, slots=True)
class ReaderProfile:
    """Where PC/SC readers differ. Matched by a part of the reader's PC/SC name."""

    name: str
    match: str
    iso15693: bool
    feedback_ok: bytes | None = None
    feedback_fail: bytes | None = None


PROFILES = (
    # ACR122U API v2.04 §6.2: FF 00 40 <LED state> 04 <T1> <T2> <repetitions> <buzzer link>.
    # A0 = green blink, 1 x 100 ms with the buzzer; 50 = red blink, 3 x 500 ms with the buzzer.
    ReaderProfile("ACR122U", "ACR122U", iso15693=False,
                  feedback_ok=bytes.fromhex("FF 00 40 A0 04 01 01 01 01"),
                  feedback_fail=bytes.fromhex("FF 00 40 50 04 05 05 03 01")),
    ReaderProfile("ACR1252U", "ACR1252", iso15693=False),
    ReaderProfile("ACR1552U", "ACR1552", iso15693=True),
    ReaderProfile("uTrust 3700 F", "uTrust 3700 F", iso15693=True),
    ReaderProfile("OMNIKEY 5022", "OMNIKEY 5022", iso15693=True),
    ReaderProfile("OMNIKEY 5422", "OMNIKEY 5422", iso15693=True),
)
GENERIC = ReaderProfile("generic PC/SC", "", iso15693=True)


def profile_for(reader_name: str) -> ReaderProfile:
    return next((p for p in PROFILES if p.match in reader_name), GENERIC)


def _code(hresult: int) -> int:
    return hresult & 0xFFFFFFFF


def _raise_for(hresult: int) -> None:
    """Translate a PC/SC return code into the readers' errors (pcsclite.h names)."""
    code = _code(hresult)
    if code == scard.SCARD_S_SUCCESS:
        return
    if code in _SERVICE_GONE:
        raise ReaderUnavailableError(MSG_NO_SERVICE)
    if code in _READER_GONE:
        raise ReaderUnavailableError(MSG_NO_READER)
    if code in _TAG_GONE:
        raise TagLostError(MSG_TAG_LOST)
    if code == scard.SCARD_E_SHARING_VIOLATION:
        raise ReaderUnavailableError(
            "Another program holds this reader exclusively; close it and try again."
        )
    raise ReaderError(f"The reader reported {scard.SCardGetErrorMessage(hresult)} "
                      f"(0x{code:08X}); lift the tag and try again.")


def _check_sw(response: list[int]) -> bytes:
    """Split an R-APDU, translating status words (ISO 7816-4 §5.1.3, PC/SC part 3 §3.2.2.1)."""
    if len(response) < 2:
        # vpcd (and some readers) return an empty answer when the tag vanished mid-command.
        raise TagLostError(MSG_TAG_LOST)
    sw = bytes(response[-2:])
    if sw == b"\x90\x00":
        return bytes(response[:-2])
    if sw == b"\x63\x00":
        raise TagCommandError(
            "The tag did not answer the command (status 63 00); hold it flat on the reader "
            "and try again."
        )
    if sw == b"\x6a\x81":
        raise UnsupportedError("The reader does not support this command for this tag.")
    if sw == b"\x69\x82":
        raise TagCommandError("The tag is password-protected or locked against this operation.")
    raise TagCommandError(f"The tag refused the command (status {sw.hex(' ').upper()}).")


class _Card:
    """One PC/SC connection to the tag on a reader slot, in its own context."""

    def __init__(self, reader_name: str, context: int | None = None) -> None:
        self._own_context = context is None
        if context is None:
            hr, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
            _raise_for(hr)
        self.context = context
        hr, self.handle, self.protocol = scard.SCardConnect(
            context, reader_name, scard.SCARD_SHARE_SHARED,
            scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
        )
        if _code(hr) != scard.SCARD_S_SUCCESS:
            self._release_context()
            _raise_for(hr)

    def transmit(self, apdu: bytes | list[int]) -> bytes:
        hr, response = scard.SCardTransmit(self.handle, self.protocol, list(apdu))
        _raise_for(hr)
        return _check_sw(response)

    def close(self) -> None:
        scard.SCardDisconnect(self.handle, scard.SCARD_LEAVE_CARD)
        self._release_context()

    def _release_context(self) -> None:
        if self._own_context:
            scard.SCardReleaseContext(self.context)


def _normalise_uid(raw: bytes, technology: Technology) -> str:
    # ISO 15693 UIDs start with E0 (MSB first); some readers answer GET DATA least significant
    # byte first, so a UID ending in E0 is turned round.
    if technology is Technology.ISO15693 and raw[-1:] == b"\xe0":
        raw = raw[::-1]
    return raw.hex().upper()


class _Blocks:
    """READ/UPDATE BINARY on 4-byte pages (T2T) or blocks (ICODE), PC/SC part 3 §3.2.2.1.8/9."""

    def __init__(self, card: _Card, max_read_blocks: int) -> None:
        self._card = card
        self._max = max_read_blocks

    def read(self, block: int, count: int) -> bytes:
        out = b""
        while count > 0:
            n = min(count, self._max)
            out += self._card.transmit([0xFF, 0xB0, block >> 8, block & 0xFF, n * 4])
            block, count = block + n, count - n
        return out

    def write(self, block: int, data: bytes) -> None:
        self._card.transmit(bytes([0xFF, 0xD6, block >> 8, block & 0xFF, len(data)]) + data)


class PcscSession(tlv.BlockTagSession):
    def __init__(self, event: TagEvent, profile: ReaderProfile) -> None:
        assert event.uid is not None and event.technology is not None
        self.uid, self.technology, self.tag_type = event.uid, event.technology, event.tag_type
        if self.technology is Technology.ISO15693 and not profile.iso15693:
            raise UnsupportedError(
                f"The {profile.name} cannot read or write ISO 15693 tags; use an ACR1552U, "
                "uTrust 3700 F or OMNIKEY 5022 for ICODE tags."
            )
        self._card = _Card(event.reader)
        try:
            if _normalise_uid(self._card.transmit(GET_UID), self.technology) != self.uid:
                raise TagLostError("A different tag is on the reader now; place the first one.")
        except ReaderError:
            self._card.close()
            raise
        # T2T READ returns 16 bytes (4 pages) at most; ISO 15693 blocks one at a time on
        # the generic READ BINARY mapping.
        self._blocks = _Blocks(self._card, 1 if self.technology is Technology.ISO15693 else 4)

    def close(self) -> None:
        self._card.close()

    def _area(self) -> tlv.NdefArea:
        if self.technology is Technology.ISO15693:
            cc = self._blocks.read(0, 1)
            return tlv.type5_area(cc, blocks=28 if self.tag_type is TagType.ICODE_SLIX else 256)
        if self.tag_type not in tlv.CC_SIZE_TYPES.values():
            raise UnsupportedError("This tag type has no NDEF support on PC/SC readers here.")
        return tlv.type2_area(self._blocks.read(3, 1))


class PcscReader(Reader):
    """Watches PC/SC readers whose name contains ``name`` (all readers when empty)."""

    def __init__(self, name: str = "", *, max_backoff: float = 2.0) -> None:
        super().__init__()
        self.url = f"pcsc://{name}"
        self._name = name
        self._max_backoff = max_backoff
        self._stop = threading.Event()
        self._context: int | None = None
        self._present: dict[str, str | None] = {}  # reader -> UID we reported (None: unread)
        self._counters: dict[str, int] = {}
        self._down = False  # an outage has been reported and has not ended yet
        self._thread = threading.Thread(target=self._supervise, name="pcsc-supervisor",
                                        daemon=True)
        self._thread.start()

    # -- supervisor ---------------------------------------------------------------------------

    def _supervise(self) -> None:
        backoff = 0.05
        while not self._stop.is_set():
            try:
                self._watch()
                backoff = 0.05
            except ReaderError as exc:
                self._forget_tags()
                # One error per outage for the operator, not one per retry.
                if not self._down:
                    self._emit(TagEvent(EventKind.ERROR, self._name or "pcsc", message=str(exc)))
                    self._down = True
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self._max_backoff)
            finally:
                self._release()

    def _release(self) -> None:
        if self._context is not None:
            scard.SCardReleaseContext(self._context)
            self._context = None

    def _forget_tags(self) -> None:
        for reader, uid in list(self._present.items()):
            if uid is not None:
                self._emit(TagEvent(EventKind.REMOVED, reader, uid=uid))
        self._present.clear()
        self._counters.clear()

    def _watch(self) -> None:
        """Watch until the reader list changes (returns) or pcscd goes (raises)."""
        hr, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        _raise_for(hr)
        self._context = context
        hr, names = scard.SCardListReaders(context, [])
        if _code(hr) not in (scard.SCARD_S_SUCCESS, scard.SCARD_E_NO_READERS_AVAILABLE):
            _raise_for(hr)
        names = [n for n in names or [] if self._name in n]
        if not names:
            raise ReaderUnavailableError(
                f"No PC/SC reader{' named ' + repr(self._name) if self._name else ''} is "
                "connected; plug it in."
            )
        log.info("watching PC/SC readers %s", names)
        self._down = False
        states = dict.fromkeys(names, scard.SCARD_STATE_UNAWARE)
        pnp_state = scard.SCARD_STATE_UNAWARE
        while not self._stop.is_set():
            query = list(states.items()) + [(PNP_NOTIFICATION, pnp_state)]
            hr, result = scard.SCardGetStatusChange(context, STATUS_TIMEOUT_MS, query)
            code = _code(hr)
            if code == scard.SCARD_E_TIMEOUT:
                continue
            if code == scard.SCARD_E_CANCELLED:
                return
            _raise_for(hr)
            for name, event_state, atr in result:
                new_state = event_state & ~scard.SCARD_STATE_CHANGED
                if name == PNP_NOTIFICATION:
                    if pnp_state != scard.SCARD_STATE_UNAWARE and new_state != pnp_state:
                        return  # a reader came or went: list them again
                    pnp_state = new_state
                    continue
                states[name] = new_state
                self._update(context, name, event_state, bytes(atr))

    def _update(self, context: int, reader: str, state: int, atr: bytes) -> None:
        if state & scard.SCARD_STATE_UNAVAILABLE:
            raise ReaderUnavailableError(MSG_NO_READER)
        present = bool(state & scard.SCARD_STATE_PRESENT)
        # pcsc-lite counts card insertions and removals in the high word of the event state:
        # a changed count while present means the tag was swapped between two polls.
        counter = state >> 16
        swapped = counter != self._counters.get(reader)
        self._counters[reader] = counter
        if present and (reader not in self._present or swapped):
            if self._present.get(reader) is not None:
                self._emit(TagEvent(EventKind.REMOVED, reader, uid=self._present[reader]))
            self._present[reader] = None
            self._arrived(context, reader, atr)
        elif not present and reader in self._present:
            uid = self._present.pop(reader)
            if uid is not None:
                self._emit(TagEvent(EventKind.REMOVED, reader, uid=uid))

    def _arrived(self, context: int, reader: str, atr: bytes) -> None:
        info = parse_atr(atr)
        try:
            card = _Card(reader, context)
            try:
                uid = _normalise_uid(card.transmit(GET_UID), info.technology)
                tag_type = info.tag_type
                if tag_type is TagType.MIFARE_ULTRALIGHT:
                    # NTAG21x report Ultralight's ATR; CC byte 2 names the chip.
                    cc = card.transmit([0xFF, 0xB0, 0x00, 0x03, 0x04])
                    if cc[:1] == b"\xe1":
                        tag_type = tlv.CC_SIZE_TYPES.get(cc[2], tag_type)
            finally:
                card.close()
        except ReaderUnavailableError:
            raise
        except TagLostError:
            # Gone before we read it (brushed past, or pcscd has not seen the swap yet): the
            # next state change brings it back if it is still there.
            log.info("tag on %s left before its UID was read", reader)
            return
        except ReaderError as exc:
            log.info("tag on %s could not be read: %s", reader, exc)
            self._emit(TagEvent(EventKind.ERROR, reader, activation=atr,
                                message=f"The tag could not be read ({exc}) Lift it and "
                                "place it again."))
            return
        self._present[reader] = uid
        self._emit(TagEvent(EventKind.ARRIVED, reader, uid=uid, technology=info.technology,
                            tag_type=tag_type, activation=atr))

    # -- sessions and feedback ------------------------------------------------------------------

    def _open_session(self, event: TagEvent) -> TagSession:
        return PcscSession(event, profile_for(event.reader))

    def _close_session(self, tag_session: TagSession) -> None:
        assert isinstance(tag_session, PcscSession)
        tag_session.close()

    def signal(self, event: TagEvent, ok: bool) -> None:
        profile = profile_for(event.reader)
        apdu = profile.feedback_ok if ok else profile.feedback_fail
        if apdu is None:
            return
        try:
            card = _Card(event.reader)
            try:
                card.transmit(apdu)
            finally:
                card.close()
        except ReaderError as exc:
            log.debug("no feedback on %s: %s", event.reader, exc)

    def close(self) -> None:
        self._stop.set()
        context = self._context
        if context is not None:
            scard.SCardCancel(context)
        self._thread.join(timeout=5)
