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

from collections.abc import Mapping
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
# The values a header's walk keeps, with their VRs.
_HEADER_VRS = {tag: vr for tag, (_, vr) in _WANTED.items()} | {_TRANSFER_SYNTAX: b"UI"}
# Where pydicom's stop_before_pixels stops: (Float/Double Float) Pixel Data, PS3.6 group 7FE0.
_PIXELS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
# PS3.5 7.5: Item, Item Delimitation and Sequence Delimitation.
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
# PS3.5 7.1.2: these explicit VRs have two reserved bytes and a 4-byte length.
_LONG_VRS = frozenset(vr.encode() for vr in EXPLICIT_VR_LENGTH_32)
_SHORT_VRS = frozenset(vr.encode() for vr in EXPLICIT_VR_LENGTH_16)
# PS3.5 6.2: binary VRs of fixed-width values. A length that is not a whole number of values is
# damage pydicom refuses (BytesLengthException), even where the walk could step over it.
_VALUE_WIDTHS = {
    b"AT": 4, b"FL": 4, b"FD": 8, b"SL": 4, b"SS": 2, b"SV": 8, b"UL": 4, b"US": 2, b"UV": 8
}
# Printable ASCII without the backslash (the value separator, PS3.5 6.1.3): such bytes decode
# alike in every DICOM character set, and pydicom keeps them as one string.
_PLAIN = frozenset(range(0x20, 0x7F)) - {0x5C}
_PLAIN_OR_SEPARATOR = frozenset(range(0x20, 0x7F))


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
        pos = _walk(head, 132, size, implicit=False, keep=values, wanted=_HEADER_VRS, meta=True)
        syntax = plain_text(values.get(_TRANSFER_SYNTAX, b""))
        implicit = _implicit(syntax, head, pos)
        end = _walk(head, pos, size, implicit=implicit, keep=values, wanted=_HEADER_VRS,
                    stops=_PIXELS)
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
    wanted: Mapping[int, bytes] | None = None,
    meta: bool = False,
    delimited: bool = False,
    stops: frozenset[int] = frozenset(),
) -> int:
    """Walk elements from ``pos`` to at most ``end``; return where the walk stopped.

    The values of the ``wanted`` tags (tag -> VR) go into ``keep``. The walk stops before a
    tag of ``stops`` (the pixel data of a header) or at ``end``; with ``meta`` it stops at the
    first element outside group 0002, and when ``delimited`` after the Item Delimitation that
    ends its item. Elements must come in ascending tag order (PS3.5 7.1), as a well-formed
    dataset has them.
    """
    wanted = wanted or {}
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
        if tag in stops:
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
            if length % _VALUE_WIDTHS.get(vr, 1):
                raise UnusualError
        kept = keep is not None and tag in wanted
        if kept and (length == _UNDEFINED or not (implicit or vr == wanted[tag])):
            raise UnusualError
        if length == _UNDEFINED:
            if not (implicit or vr == b"SQ"):
                raise UnusualError
            pos = _skip_sequence(buf, pos, end, implicit=implicit)
            continue
        if pos + length > end:
            raise UnusualError
        if kept and keep is not None:
            keep[tag] = buf[pos : pos + length]
        pos += length
    if delimited or pos != end:
        raise UnusualError  # an item without its delimiter, or an element past the end
    return pos


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


# --- the DICOMDIR --------------------------------------------------------------------------

# PS3.3 F.3.2.2 and F.5: the values of a directory record the import reads.
_RECORD_VRS = {
    0x00041400: b"UL",  # Offset of the Next Directory Record
    0x00041410: b"US",  # Record In-use Flag
    0x00041420: b"UL",  # Offset of Referenced Lower-Level Directory Entity
    0x00041430: b"CS",  # Directory Record Type
    0x00041500: b"CS",  # Referenced File ID
    0x00041511: b"UI",  # Referenced SOP Instance UID in File
    0x00080020: b"DA",  # Study Date
    0x00080050: b"SH",  # Accession Number
    0x00100020: b"LO",  # Patient ID
    0x00100021: b"LO",  # Issuer of Patient ID
    0x0020000D: b"UI",  # Study Instance UID
    0x00200010: b"SH",  # Study ID
}
# PS3.3 F.3.2.1 (Basic Directory IOD): File-set ID and the root's first and last records.
_DIRECTORY_VRS = {0x00041130: b"CS", 0x00041200: b"UL", 0x00041202: b"UL"}
_MEDIA_UID = 0x00020003  # Media Storage SOP Instance UID: the File-set UID (PS3.10 7.1)
_RECORDS = 0x00041220  # Directory Record Sequence
_EXPLICIT_LE = "1.2.840.10008.1.2.1"  # PS3.10 8.6: a DICOMDIR is always in this syntax


@dataclass(frozen=True, slots=True)
class DirectoryRecord:
    """The values of one directory record an import reads, and the byte offset of its item
    from the start of the file: what the records' offsets point at (PS3.3 F.3.2.1)."""

    offset: int
    next: int | None
    in_use: int | None
    lower: int | None
    kind: str | None
    file_id: tuple[str, ...] | None
    sop_instance_uid: str | None
    study_date: str | None
    accession_number: str | None
    patient_id: str | None
    issuer_of_patient_id: str | None
    study_instance_uid: str | None
    study_id: str | None


@dataclass(frozen=True)
class DirectoryScan:
    fileset_id: str | None
    fileset_uid: str | None
    first_root: int | None
    last_root: int | None
    records: list[DirectoryRecord]


def scan_directory(buf: bytes) -> DirectoryScan | None:
    """A DICOMDIR's records, or None when pydicom must read it.

    pydicom takes about 0.15 ms a directory record, so the DICOMDIR of a 5,000-instance disc
    cost most of a core while the files streamed. As with a header, this walk answers only for
    a file it can vouch for: explicit VR little endian, every element of the records well
    formed and in order, values plain ASCII, one number where a number is read; anything else
    (damage included) is left to pydicom, which alone decides what is broken.
    """
    if len(buf) < 132 or buf[128:132] != b"DICM":
        return None
    meta: dict[int, bytes] = {}
    top: dict[int, bytes] = {}
    try:
        size = len(buf)
        pos = _walk(buf, 132, size, implicit=False, keep=meta, meta=True,
                    wanted={_TRANSFER_SYNTAX: b"UI", _MEDIA_UID: b"UI"})
        if plain_text(meta.get(_TRANSFER_SYNTAX, b"")) != _EXPLICIT_LE:
            return None
        pos = _walk(buf, pos, size, implicit=False, keep=top, wanted=_DIRECTORY_VRS,
                    stops=frozenset({_RECORDS}))
        if pos == size or buf[pos + 4 : pos + 6] != b"SQ":
            return None  # no records: pydicom says the DICOMDIR is damaged
        length = unpack_from("<I", buf, pos + 8)[0]
        pos += 12
        end = size if length == _UNDEFINED else pos + length
        records, pos = _records(buf, pos, end, delimited=length == _UNDEFINED)
        if _walk(buf, pos, size, implicit=False, keep=top, wanted=_DIRECTORY_VRS) != size:
            return None
        return DirectoryScan(
            fileset_id=plain_text(top.get(0x00041130, b"")),
            fileset_uid=plain_text(meta.get(_MEDIA_UID, b"")),
            first_root=_number(top.get(0x00041200), 4),
            last_root=_number(top.get(0x00041202), 4),
            records=records,
        )
    except (UnusualError, StructError, IndexError):
        return None


def _records(
    buf: bytes, pos: int, end: int, *, delimited: bool
) -> tuple[list[DirectoryRecord], int]:
    """The items of the Directory Record Sequence (PS3.5 7.5) and where the sequence ends."""
    records: list[DirectoryRecord] = []
    while pos < end:
        group, element, length = unpack_from("<HHI", buf, pos)
        tag = group << 16 | element
        if delimited and tag == _SEQUENCE_END:
            if length != 0:
                raise UnusualError
            return records, pos + 8
        if tag != _ITEM:
            raise UnusualError
        values: dict[int, bytes] = {}
        start = pos
        if length == _UNDEFINED:
            pos = _walk(buf, pos + 8, end, implicit=False, keep=values, wanted=_RECORD_VRS,
                        delimited=True)
        else:
            item_end = pos + 8 + length
            if item_end > end or _walk(buf, pos + 8, item_end, implicit=False, keep=values,
                                       wanted=_RECORD_VRS) != item_end:
                raise UnusualError
            pos = item_end
        records.append(_record(start, values))
    if delimited or pos != end:
        raise UnusualError
    return records, pos


def _record(offset: int, values: dict[int, bytes]) -> DirectoryRecord:
    raw_id = values.get(0x00041500)
    return DirectoryRecord(
        offset=offset,
        next=_number(values.get(0x00041400), 4),
        in_use=_number(values.get(0x00041410), 2),
        lower=_number(values.get(0x00041420), 4),
        kind=plain_text(values.get(0x00041430, b"")),
        file_id=None if raw_id is None else _file_id(raw_id),
        sop_instance_uid=plain_text(values.get(0x00041511, b"")),
        study_date=plain_text(values.get(0x00080020, b"")),
        accession_number=plain_text(values.get(0x00080050, b"")),
        patient_id=plain_text(values.get(0x00100020, b"")),
        issuer_of_patient_id=plain_text(values.get(0x00100021, b"")),
        study_instance_uid=plain_text(values.get(0x0020000D, b"")),
        study_id=plain_text(values.get(0x00200010, b"")),
    )


def _number(raw: bytes | None, size: int) -> int | None:
    """One UL (``size`` 4) or US (2) value, little endian; none, or several, is unusual."""
    if raw is None:
        return None
    if len(raw) != size:
        raise UnusualError
    return int.from_bytes(raw, "little")


def _file_id(raw: bytes) -> tuple[str, ...]:
    """Referenced File ID's components (CS, backslash-separated) as pydicom splits them."""
    if not _PLAIN_OR_SEPARATOR.issuperset(raw.rstrip(b" \x00")):
        raise UnusualError
    return tuple(raw.decode("ascii").rstrip(" \x00").split("\\"))


def plain_text(raw: bytes) -> str | None:
    """A text value as pydicom gives it, stripped of padding, when its bytes are plain ASCII.

    Anything else (another character set's bytes, several values) raises UnusualError.
    """
    body = raw.rstrip(b"\x00")
    if not _PLAIN.issuperset(body):
        raise UnusualError
    return body.decode("ascii").strip() or None
