"""``sim://``: emulated tags in the same process, for demos, training and benchmarks.

The tags are the emulators' memory models (:mod:`readers.emulators.tags`), so what a session
reads and writes is byte for byte what a real NTAG21x or ICODE SLIX would hold. Tags are put on
and taken off with :meth:`SimReader.place` and :meth:`SimReader.lift`, or by the demo loop:

``sim://?tags=NTAG213:04A224B1C35E80,ICODE:E004010012345678&tap_every=5`` taps each listed
tag in turn (placed for a second, then lifted) every 5 seconds.
"""

from __future__ import annotations

import threading
from urllib.parse import parse_qs

from readers import tlv
from readers.base import EventKind, Reader, TagEvent, TagSession, TagType
from readers.emulators.tags import EmulatedTag, IcodeSlix, Nak, Ntag21x
from readers.errors import TagCommandError, TagLostError

READER_NAME = "sim"


class _Blocks:
    """The tag model as a :class:`readers.tlv.BlockDevice`; a NAK is a refused command."""

    def __init__(self, reader: SimReader, tag: EmulatedTag) -> None:
        self._reader, self._tag = reader, tag

    def read(self, block: int, count: int) -> bytes:
        self._reader.check_present(self._tag)
        try:
            if isinstance(self._tag, IcodeSlix):
                return b"".join(self._tag.read_block(block + i) for i in range(count))
            out = b""
            while len(out) < count * 4:  # READ gives 4 pages
                out += self._tag.read(block + len(out) // 4)
            return out[: count * 4]
        except Nak as exc:
            raise TagCommandError(f"The tag refused the command ({exc}).") from exc

    def write(self, block: int, data: bytes) -> None:
        self._reader.check_present(self._tag)
        try:
            if isinstance(self._tag, IcodeSlix):
                self._tag.write_block(block, data)
            else:
                self._tag.write(block, data)
        except Nak as exc:
            raise TagCommandError(f"The tag refused the command ({exc}).") from exc


class SimSession(tlv.BlockTagSession):
    def __init__(self, reader: SimReader, tag: EmulatedTag) -> None:
        self.uid, self.technology, self.tag_type = tag.uid.hex().upper(), tag.technology, (
            tag.tag_type
        )
        self._tag = tag
        self._blocks = _Blocks(reader, tag)

    def _area(self) -> tlv.NdefArea:
        if isinstance(self._tag, IcodeSlix):
            return tlv.type5_area(self._blocks.read(0, 1), blocks=self._tag.blocks)
        return tlv.type2_area(self._blocks.read(3, 1))


def parse_tags(spec: str) -> list[EmulatedTag]:
    """``NTAG213:04A2...,ICODE:E004...`` -> tag models."""
    tags: list[EmulatedTag] = []
    for item in filter(None, spec.split(",")):
        kind, _, uid_hex = item.partition(":")
        uid = bytes.fromhex(uid_hex) if uid_hex else None
        if kind.upper() == "ICODE":
            tags.append(IcodeSlix(uid))
        else:
            tags.append(Ntag21x(TagType(kind.upper()), uid))
    return tags


class SimReader(Reader):
    def __init__(self, query: str = "") -> None:
        super().__init__()
        self.url = f"sim://?{query}" if query else "sim://"
        self._lock = threading.Lock()
        self._present: EmulatedTag | None = None
        self._stop = threading.Event()
        options = parse_qs(query)
        self.tags = parse_tags(options.get("tags", [""])[0])
        self._demo: threading.Thread | None = None
        if "tap_every" in options:
            interval = float(options["tap_every"][0])
            self._demo = threading.Thread(target=self._tap_loop, args=(interval,), daemon=True,
                                          name="sim-demo")
            self._demo.start()

    def place(self, tag: EmulatedTag) -> TagEvent:
        """Put ``tag`` on the reader (lifting any other one first)."""
        with self._lock:
            if self._present is tag:
                raise ValueError("that tag is already on the reader")
            if self._present is not None:
                self._lift_locked()
            tag.deselect()
            self._present = tag
            event = TagEvent(EventKind.ARRIVED, READER_NAME, uid=tag.uid.hex().upper(),
                             technology=tag.technology, tag_type=tag.tag_type)
            self._emit(event)
            return event

    def lift(self) -> None:
        with self._lock:
            self._lift_locked()

    def _lift_locked(self) -> None:
        if self._present is not None:
            uid = self._present.uid.hex().upper()
            self._present = None
            self._emit(TagEvent(EventKind.REMOVED, READER_NAME, uid=uid))

    def check_present(self, tag: EmulatedTag) -> None:
        if self._present is not tag:
            raise TagLostError("The tag left the reader during the operation; place it back "
                               "and try again.")

    def _tap_loop(self, interval: float) -> None:
        while not self._stop.is_set():
            for tag in self.tags:
                self.place(tag)
                if self._stop.wait(min(1.0, interval / 2)):
                    return
                self.lift()
                if self._stop.wait(interval):
                    return

    def _open_session(self, event: TagEvent) -> TagSession:
        with self._lock:
            tag = self._present
        if tag is None or tag.uid.hex().upper() != event.uid:
            raise TagLostError("The tag is no longer on the reader; place it again.")
        return SimSession(self, tag)

    def close(self) -> None:
        self._stop.set()
        if self._demo is not None:
            self._demo.join(timeout=5)
