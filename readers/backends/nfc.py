"""nfcpy readers: ``nfc://usb[:VID:PID]`` and ``nfc://udp:HOST:PORT``.

nfcpy is not thread-safe, so one worker thread owns the ``ContactlessFrontend``: it senses,
activates, checks that the tag is still present, and runs every session command handed to it.
A session call from another thread waits for the worker's answer. Add ``?targets=106A,212F``
to choose what to sense: nfcpy's udp driver waits a full second for each target nobody
answers, so ``udp`` senses Type A only unless told otherwise.

Supported hardware (nfcpy 1.0.4's own table; ACR122U belongs to ``pcsc://``):

=====================  ======================  ===========================================
device                 path                    notes
=====================  ======================  ===========================================
Sony RC-S380           ``usb:054c:06c3``       Types 2, 3, 4; the recommended handheld reader
SCM SCL3711            ``usb:04e6:5591``       PN533; blacklist ``pn533_usb`` (hardware/)
nfcpy udp driver       ``udp:127.0.0.1:PORT``  our emulator (readers.emulators.udp)
=====================  ======================  ===========================================

NFC Forum Types 2, 3 and 4 only: nfcpy has no ISO 15693 (Type 5) support.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar
from urllib.parse import parse_qs

import nfc
import nfc.clf
import nfc.tag
import nfc.tag.tt2
import nfc.tag.tt3
import nfc.tag.tt4

from readers.base import EventKind, Reader, TagEvent, TagSession, TagType, Technology
from readers.errors import (
    ReaderError,
    ReaderUnavailableError,
    TagCapacityError,
    TagCommandError,
    TagFormatError,
    TagLostError,
    UnsupportedError,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

MSG_TAG_LOST = "The tag left the reader during the operation; place it back and try again."
TECHNOLOGIES = {"A": Technology.ISO14443A, "B": Technology.ISO14443B, "F": Technology.FELICA}
# nfcpy's Tag.product names (tt2_nxp.py VERSION_MAP and friends).
PRODUCTS = {
    "NXP NTAG213": TagType.NTAG213,
    "NXP NTAG215": TagType.NTAG215,
    "NXP NTAG216": TagType.NTAG216,
    "Mifare Ultralight": TagType.MIFARE_ULTRALIGHT,
}
PRESENCE_INTERVAL = 0.1  # seconds between presence checks while a tag rests


def _translate(exc: Exception) -> ReaderError:
    """nfcpy's exceptions -> ours (nfc/tag/__init__.py error numbers, nfc/clf errors)."""
    if isinstance(exc, nfc.tag.TagCommandError):
        if exc.errno == nfc.tag.TIMEOUT_ERROR:
            return TagLostError(MSG_TAG_LOST)
        return TagCommandError(f"The tag refused the command ({exc}); it may be locked or "
                               "password-protected.")
    if isinstance(exc, nfc.clf.CommunicationError):
        return TagLostError(MSG_TAG_LOST)
    return ReaderError(f"The reader failed: {exc}.")


class NfcSession(TagSession):
    def __init__(self, reader: NfcReader, event: TagEvent) -> None:
        assert event.uid is not None and event.technology is not None
        self._reader = reader
        self.uid, self.technology, self.tag_type = event.uid, event.technology, event.tag_type

    def _call(self, fn: Callable[[Any], T]) -> T:
        return self._reader.run_on_tag(self.uid, fn)

    @staticmethod
    def _ndef(tag: Any) -> Any:
        ndef = tag.ndef
        if ndef is None:
            # nfcpy reads NDEF swallowing its own errors (tt4.py returns None on any APDU
            # error): a tag that left mid-read looks unformatted unless we ask whether it is here.
            if not tag.is_present:
                raise TagLostError(MSG_TAG_LOST)
            raise TagFormatError("The tag is not NDEF-formatted.")
        return ndef

    def read_ndef(self) -> bytes:
        def read(tag: Any) -> bytes:
            # nfcpy answers tag.ndef.octets from what it last read or wrote in this activation;
            # has_changed reads the tag again, so a read-back after a write checks the tag.
            self._ndef(tag).has_changed  # noqa: B018
            return bytes(self._ndef(tag).octets)

        return self._call(read)

    def write_ndef(self, message: bytes) -> None:
        def write(tag: Any) -> None:
            ndef = self._ndef(tag)
            if not ndef.is_writeable:
                raise UnsupportedError("The tag is locked read-only; use a new tag.")
            if len(message) > ndef.capacity:
                larger = " (NTAG215 or NTAG216)" if isinstance(tag, nfc.tag.tt2.Type2Tag) else ""
                raise TagCapacityError(
                    f"The label needs {len(message)} bytes but the tag holds "
                    f"{ndef.capacity}; use a larger tag{larger}."
                )
            ndef.octets = message

        self._call(write)

    def _type2(self, tag: Any) -> Any:
        if not isinstance(tag, nfc.tag.tt2.Type2Tag):
            raise UnsupportedError("Raw block access is supported for Type 2 tags only.")
        return tag

    def read_blocks(self, start: int, count: int) -> bytes:
        # READ (30h) returns 4 pages at a time (NTAG21x datasheet §10.2).
        return self._call(lambda tag: b"".join(
            bytes(self._type2(tag).read(page)[:4]) for page in range(start, start + count)
        ))

    def write_block(self, block: int, data: bytes) -> None:
        self._call(lambda tag: self._type2(tag).write(block, data))

    def protect(self, password: bytes) -> None:
        """Password-protect writes from page 4 on (NTAG21x PWD/PACK/AUTH0, via nfcpy)."""
        if len(password) != 6:
            raise ValueError("an NTAG password has 6 bytes (4 PWD + 2 PACK)")
        if not self._call(lambda tag: tag.protect(password=password, protect_from=4)):
            raise TagCommandError("The tag did not accept the password settings.")

    def make_read_only(self) -> None:
        if not self._call(lambda tag: tag.protect()):
            raise TagCommandError("The tag could not be locked.")


class NfcReader(Reader):
    def __init__(self, spec: str) -> None:
        super().__init__()
        path, _, query = spec.partition("?")
        self.url = f"nfc://{spec}"
        self._path = path
        default = "106A" if path.startswith("udp") else "106A,106B,212F"
        self._targets = parse_qs(query).get("targets", [default])[0].split(",")
        self._jobs: queue.Queue[tuple[str, Callable[[Any], Any], Future[Any]]] = queue.Queue()
        self._stop = threading.Event()
        self._current: str | None = None
        self._thread = threading.Thread(target=self._work, name="nfc-worker", daemon=True)
        self._thread.start()

    def run_on_tag(self, uid: str, fn: Callable[[Any], T]) -> T:
        """Run ``fn(tag)`` in the worker thread on the tag with ``uid``, if still present."""
        future: Future[T] = Future()
        self._jobs.put((uid, fn, future))
        return future.result(timeout=60)

    def _work(self) -> None:
        backoff, reported = 0.1, False
        while not self._stop.is_set():
            try:
                clf = nfc.ContactlessFrontend(self._path)
            except (OSError, ImportError) as exc:  # no device, no access, or no libusb
                reason = getattr(exc, "strerror", None) or exc
                if not reported:
                    self._emit(TagEvent(EventKind.ERROR, self._path, message=(
                        f"No NFC reader found at {self._path} ({reason}); plug it "
                        "in, and check the udev rule and the pn533 blacklist (hardware/)."
                    )))
                    reported = True
                self._fail_jobs(ReaderUnavailableError("The NFC reader is not connected."))
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            backoff, reported = 0.1, False
            try:
                self._poll(clf)
            finally:
                clf.close()

    def _poll(self, clf: Any) -> None:
        targets = [nfc.clf.RemoteTarget(t) for t in self._targets]
        while not self._stop.is_set():
            self._fail_jobs(TagLostError("The tag is no longer on the reader; place it again."))
            try:
                target = clf.sense(*targets, iterations=1, interval=0.05)
                tag = nfc.tag.activate(clf, target) if target is not None else None
            except nfc.clf.CommunicationError as exc:
                log.debug("sense failed: %s", exc)
                continue
            if tag is None:
                continue
            event = TagEvent(
                EventKind.ARRIVED, self._path, uid=bytes(tag.identifier).hex().upper(),
                technology=TECHNOLOGIES[target.brty[-1]], tag_type=self._tag_type(tag),
                activation=bytes((target.sens_res or b"") + (target.sel_res or b"")
                                 + (target.sensb_res or b"") + (target.sensf_res or b"")),
            )
            self._current = event.uid
            self._emit(event)
            self._serve(tag)
            self._current = None
            self._emit(TagEvent(EventKind.REMOVED, self._path, uid=event.uid))

    @staticmethod
    def _tag_type(tag: Any) -> TagType | None:
        if tag.product in PRODUCTS:
            return PRODUCTS[tag.product]
        if isinstance(tag, nfc.tag.tt3.Type3Tag):
            return TagType.TYPE3
        if isinstance(tag, nfc.tag.tt4.Type4Tag):
            return TagType.TYPE4
        return None

    def _serve(self, tag: Any) -> None:
        """Run session jobs while the tag stays; return when it has gone."""
        while not self._stop.is_set():
            try:
                uid, fn, future = self._jobs.get(timeout=PRESENCE_INTERVAL)
            except queue.Empty:
                if not tag.is_present:
                    return
                continue
            if uid != self._current:
                future.set_exception(TagLostError("A different tag is on the reader now."))
                continue
            try:
                future.set_result(fn(tag))
            except ReaderError as exc:
                future.set_exception(exc)
            except (nfc.tag.TagCommandError, nfc.clf.CommunicationError) as exc:
                future.set_exception(_translate(exc))
                if isinstance(future.exception(), TagLostError):
                    return
            except Exception as exc:  # a bug in fn: the caller gets it, the worker lives on
                future.set_exception(exc)

    def _fail_jobs(self, error: ReaderError) -> None:
        while True:
            try:
                _, _, future = self._jobs.get_nowait()
            except queue.Empty:
                return
            future.set_exception(error)

    def _open_session(self, event: TagEvent) -> TagSession:
        if event.uid != self._current:
            raise TagLostError("The tag is no longer on the reader; place it again.")
        return NfcSession(self, event)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
