"""The attributes of one DICOM instance that an import records, read from its first bytes.

pydicom reads every element up to the pixel data and converts values through its general
machinery: about half a millisecond per file, which was most of an import's CPU. An import uses
ten attributes. ``scan`` walks the header's elements with ``struct`` and keeps only those
ten; it answers only for a header it can vouch for (a standard little-endian syntax, every
element well formed, values in plain ASCII), and returns None for anything else, which pydicom
then reads exactly as before. So pydicom alone still decides what is broken and how; the scan
never reports a problem of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from struct import error as StructError
from struct import unpack_from

from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
    PrivateTransferSyntaxes,
)
from pydicom.valuerep import EXPLICIT_VR_LENGTH_16, EXPLICIT_VR_LENGTH_32


@dataclass(frozen=True)
class Header:
    """The attributes of one instance that the manifest and the study summary use."""

    sop_instance_uid: str | None
    sop_class_uid: str | None
    transfer_syntax_uid: str | None
    study_instance_uid: str | None
    series_instance_uid: str | None
    accession_number: str | None
    patient_id: str | None
    issuer_of_patient_id: str | None
    study_date: str | None
    study_id: str | None
    modality: str | None


# Tag -> (Header field, VR from the PS3.6 dictionary): the only values the walk keeps.
_WANTED = {
    0x00080016: ("sop_class_uid", b"UI"),
    0x00080018: ("sop_instance_uid", b"UI"),
    0x00080020: ("study_date", b"DA"),
    0x00080050: ("accession_number", b"SH"),
    0x00080060: ("modality", b"CS"),
    0x00100020: ("patient_id", b"LO"),
    0x00100021: ("issuer_of_patient_id", b"LO"),
    0x0020000D: ("study_instance_uid", b"UI"),
    0x0020000E: ("series_instance_uid", b"UI"),
    0x00200010: ("study_id", b"SH"),
}
_TRANSFER_SYNTAX = 0x00020010
# Where pydicom's stop_before_pixels stops: (Float/Double Float) Pixel Data, PS3.6 group 7FE0.
_PIXELS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
# PS3.5 7.5: Item, Item Delimitation and Sequence Delimitation.
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
# PS3.5 7.1.2: these explicit VRs have two reserved bytes and a 4-byte length.
_LONG_VRS = frozenset(vr.encode() for vr in EXPLICIT_VR_LENGTH_32)
_SHORT_VRS = frozenset(vr.encode() for vr in EXPLICIT_VR_LENGTH_16)
# Printable ASCII without the backslash (the value separator, PS3.5 6.1.3): such bytes decode
# alike in every DICOM character set, and pydicom keeps them as one string.
_PLAIN = frozenset(range(0x20, 0x7F)) - {0x5C}


class UnusualError(Exception):
    """Something the fast path does not vouch for: pydicom reads it instead."""


def scan(head: bytes, *, whole_file: bool) -> Header | None:
    """The header from a file's first bytes, or None when pydicom must read it.

    ``whole_file`` says that ``head`` is the entire file, so a dataset that ends without pixel
    data is complete rather than cut off by the chunk.
    """
    # PS3.10 7.1: a 128-byte preamble, "DICM", then the File Meta group (explicit VR LE).
    if len(head) < 132 or head[128:132] != b"DICM":
        return None
    values: dict[int, bytes] = {}
    try:
        size = len(head)
        pos = _walk(head, 132, size, implicit=False, keep=values, meta=True)
        syntax = plain_text(values.get(_TRANSFER_SYNTAX, b""))
        implicit = _implicit(syntax, head, pos)
        end = _walk(head, pos, size, implicit=implicit, keep=values)
        if end == size and not whole_file:
            return None  # the chunk ended before the pixel data: the header may go on
        fields = {name: plain_text(values[t]) for t, (name, _) in _WANTED.items() if t in values}
    except (UnusualError, StructError, IndexError):
        return None
    header = Header(transfer_syntax_uid=syntax, **{n: fields.get(n) for n, _ in _WANTED.values()})
    if header.sop_instance_uid is None or header.study_instance_uid is None:
        return None  # pydicom reads the whole file and reports what is missing
    return header


def _implicit(syntax: str | None, head: bytes, pos: int) -> bool:
    """Whether the dataset is implicit VR, as pydicom's read_partial decides it."""
    if syntax is None or syntax in PrivateTransferSyntaxes:
        raise UnusualError
    if syntax in (ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian):
        raise UnusualError
    implicit = syntax == ImplicitVRLittleEndian
    # pydicom switches (with a warning) when the first element's VR bytes say otherwise.
    looks_explicit = len(head) >= pos + 6 and all(0x40 < b < 0x5B for b in head[pos + 4 : pos + 6])
    if looks_explicit == implicit:
        raise UnusualError
    return implicit


def _walk(
    buf: bytes,
    pos: int,
    end: int,
    *,
    implicit: bool,
    keep: dict[int, bytes] | None,
    meta: bool = False,
    delimited: bool = False,
) -> int:
    """Walk elements from ``pos`` to at most ``end``; return where the walk stopped.

    At the top level (``keep`` given) the walk stops at the pixel data or at ``end``; with
    ``meta`` it stops at the first element outside group 0002. Inside a sequence item (``keep``
    None) it stops at ``end``, or after the Item Delimitation when the item is ``delimited``.
    Elements must come in ascending tag order (PS3.5 7.1), as a well-formed header has them.
    """
    last = -1
    while pos < end:
        group, element = unpack_from("<HH", buf, pos)
        tag = group << 16 | element
        if meta and group != 0x0002:
            return pos
        if delimited and tag == _ITEM_END:
            if unpack_from("<I", buf, pos + 4)[0] != 0:
                raise UnusualError
            return pos + 8
        if tag <= last or group in (0x0000, 0xFFFE) or (not meta and group == 0x0002):
            raise UnusualError
        last = tag
        if keep is not None and tag in _PIXELS:
            return pos
        if implicit:
            vr = b""
            length = unpack_from("<I", buf, pos + 4)[0]
            pos += 8
        else:
            vr = buf[pos + 4 : pos + 6]
            if vr in _SHORT_VRS:
                length = unpack_from("<H", buf, pos + 6)[0]
                pos += 8
            elif vr in _LONG_VRS:
                length = unpack_from("<I", buf, pos + 8)[0]
                pos += 12
            else:
                raise UnusualError
        wanted = keep is not None and (tag in _WANTED or tag == _TRANSFER_SYNTAX)
        if wanted and (length == _UNDEFINED or not (implicit or vr == _vr_of(tag))):
            raise UnusualError
        if length == _UNDEFINED:
            if not (implicit or vr == b"SQ"):
                raise UnusualError
            pos = _skip_sequence(buf, pos, end, implicit=implicit)
            continue
        if pos + length > end:
            raise UnusualError
        if keep is not None and wanted:
            keep[tag] = buf[pos : pos + length]
        pos += length
    if delimited or pos != end:
        raise UnusualError  # an item without its delimiter, or an element past the end
    return pos


def _vr_of(tag: int) -> bytes:
    return _WANTED[tag][1] if tag in _WANTED else b"UI"


def _skip_sequence(buf: bytes, pos: int, end: int, *, implicit: bool) -> int:
    """Past an undefined-length sequence (PS3.5 7.5.2), checking each item's elements."""
    while pos + 8 <= end:
        group, element, length = unpack_from("<HHI", buf, pos)
        tag = group << 16 | element
        pos += 8
        if tag == _SEQUENCE_END:
            if length != 0:
                raise UnusualError
            return pos
        if tag != _ITEM:
            raise UnusualError
        if length == _UNDEFINED:
            pos = _walk(buf, pos, end, implicit=implicit, keep=None, delimited=True)
        elif pos + length > end:
            raise UnusualError
        else:
            pos = _walk(buf, pos, pos + length, implicit=implicit, keep=None)
    raise UnusualError  # the sequence runs past the end


def plain_text(raw: bytes) -> str | None:
    """A text value as pydicom gives it, stripped of padding, when its bytes are plain ASCII.

    Anything else (another character set's bytes, several values) raises UnusualError.
    """
    body = raw.rstrip(b"\x00")
    if not _PLAIN.issuperset(body):
        raise UnusualError
    return body.decode("ascii").strip() or None
