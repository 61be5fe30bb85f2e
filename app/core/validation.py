"""Identifiers the archive works with: tag UIDs, carrier labels, location codes, DICOM UIDs."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Annotated

from fastapi import Path, Query
from pydantic import BeforeValidator, Field, WithJsonSchema

from app.core.errors import InvalidInputError, Phrase


class Technology(StrEnum):
    ISO14443A = "iso14443a"
    ISO14443B = "iso14443b"
    ISO15693 = "iso15693"
    FELICA = "felica"


# The largest value an INTEGER column holds on PostgreSQL (ids, counts): a larger number in a
# request is bad input, not a failed query.
MAX_INT = 2**31 - 1

# UID lengths in bytes. ISO/IEC 14443-3 Type A: single, double, triple size (4, 7, 10);
# Type B PUPI: 4; ISO/IEC 15693 UID: 8; FeliCa IDm: 8.
UID_LENGTHS: dict[Technology, frozenset[int]] = {
    Technology.ISO14443A: frozenset({4, 7, 10}),
    Technology.ISO14443B: frozenset({4}),
    Technology.ISO15693: frozenset({8}),
    Technology.FELICA: frozenset({8}),
}
_ANY_UID_LENGTH = frozenset().union(*UID_LENGTHS.values())
_UID_SEPARATORS = re.compile(r"[\s:.\-]")
_HEX = re.compile(r"[0-9A-F]+")

# DICOM PS3.10 8.2 / PS3.12: File-set ID is at most 16 characters of A-Z, 0-9 and "_".
LABEL_PATTERN = r"^[A-Z0-9_]{1,16}$"
_LABEL = re.compile(LABEL_PATTERN)
LOCATION_CODE_PATTERN = r"^[A-Z0-9_\-]{1,32}$"
# DICOM PS3.5 9.1: UID = numeric components separated by ".", no leading zero, <= 64 chars.
DICOM_UID_PATTERN = r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$"
_DICOM_UID = re.compile(DICOM_UID_PATTERN)
USERNAME_PATTERN = r"^[a-z0-9._\-]{2,64}$"
STATION_NAME_PATTERN = r"^[A-Za-z0-9_\-]{1,64}$"

# The rules above, written into the OpenAPI document where a value arrives: one definition
# each. Text a person types is stripped of surrounding blanks after these checks
# (app.core.schemas.Strict), so a minimum length counts what is left: the pattern asks for
# that many characters between the first and the last that are not blank.
Label = Annotated[str, Field(pattern=LABEL_PATTERN)]
LocationCode = Annotated[str, Field(pattern=LOCATION_CODE_PATTERN)]
DicomUid = Annotated[str, Field(max_length=64, pattern=DICOM_UID_PATTERN)]
# A tag UID as a person or a reader writes it: hex bytes, at most one separator (space, colon,
# dot or hyphen) between two bytes, 4, 7, 8 or 10 bytes (UID_LENGTHS); which of those lengths
# a technology allows is checked with the technology.
_BYTE, _NEXT = "[0-9A-Fa-f]{2}", "[ :.\\-]?[0-9A-Fa-f]{2}"
TAG_UID_PATTERN = f"^{_BYTE}(?:{_NEXT}){{3}}(?:(?:{_NEXT}){{3}}(?:{_NEXT}(?:(?:{_NEXT}){{2}})?)?)?$"
TagUid = Annotated[str, Field(max_length=64, pattern=TAG_UID_PATTERN)]
# DICOM PS3.3 C.7.3.1.1.1 Modality, a CS value: upper-case letters, digits and "_". The
# defined terms are at most 8 long (DOCUMENT); a study's modalities are kept joined by "\" in
# 64 characters (ModalitiesInStudy), so a study lists at most MAX_MODALITIES of them.
MODALITY_PATTERN = r"^[A-Z0-9_]{1,8}$"
MAX_MODALITIES = 7
Modality = Annotated[str, Field(pattern=MODALITY_PATTERN)]
# Blanks are the ASCII ones (space, tab, line ends): "\s" differs between the regex engines
# of the document's readers (a NEL is blank to Python and Rust, not to JavaScript).
BLANKS = " \t\n\x0b\f\r"
_SET = r"[^ \t\n\x0B\f\r]"
NO_NUL_PATTERN = "^[^\\u0000]*$"
Name = Annotated[str, Field(min_length=1, max_length=120, pattern=_SET)]
Reason = Annotated[str, Field(min_length=3, max_length=500, pattern=f"{_SET}[\\s\\S]+{_SET}")]
QueryText = Annotated[str, Query(min_length=1, max_length=64, pattern=NO_NUL_PATTERN)]
Note = Annotated[str, Field(max_length=500)]
# A purpose of use (HL7 v3 PurposeOfUse): which codes a site allows is stored in its settings,
# so the document's Purpose schema lists them as they are when it is fetched (app.main).
PURPOSE_PATTERN = r"^[A-Z]{2,16}$"
Purpose = Annotated[
    str,
    Field(pattern=PURPOSE_PATTERN),
    WithJsonSchema({"type": "string", "pattern": PURPOSE_PATTERN, "x-component": "Purpose"}),
]
IdPath = Annotated[int, Path(ge=1, le=MAX_INT)]
LabelPath = Annotated[str, Path(pattern=LABEL_PATTERN)]
LocationCodePath = Annotated[str, Path(pattern=LOCATION_CODE_PATTERN)]
DicomUidPath = Annotated[str, Path(max_length=64, pattern=DICOM_UID_PATTERN)]
UsernamePath = Annotated[str, Path(pattern=USERNAME_PATTERN)]
StationNamePath = Annotated[str, Path(pattern=STATION_NAME_PATTERN)]


def normalise_uid(raw: str, technology: Technology | None = None) -> str:
    """Upper-case hex without separators, of a length the tag technology allows."""
    if len(raw) > 64:
        raise InvalidInputError("That tag UID is far too long to be a tag UID.")
    uid = _UID_SEPARATORS.sub("", raw).upper()
    if not uid or not _HEX.fullmatch(uid) or len(uid) % 2:
        raise InvalidInputError(
            "A tag UID is written in hexadecimal digits (0-9, A-F), two per byte."
        )
    allowed = UID_LENGTHS[technology] if technology else _ANY_UID_LENGTH
    if len(uid) // 2 not in allowed:
        sizes = ", ".join(str(n) for n in sorted(allowed))
        kind = technology.value if technology else Phrase("a tag")
        raise InvalidInputError(
            "A UID of {size} bytes is not valid for {kind} (expected {sizes} bytes).",
            size=len(uid) // 2, kind=kind, sizes=sizes,
        )
    return uid


def looks_like_uid(raw: str) -> bool:
    try:
        normalise_uid(raw)
    except InvalidInputError:
        return False
    return True


def check_label(label: str) -> str:
    if not _LABEL.fullmatch(label):
        raise InvalidInputError(
            "A carrier label is 1 to 16 characters of A-Z, 0-9 and _ "
            "(the DICOM File-set ID alphabet)."
        )
    return label


def is_label(text: str) -> bool:
    return bool(_LABEL.fullmatch(text))


def is_dicom_uid(text: str) -> bool:
    return len(text) <= 64 and bool(_DICOM_UID.fullmatch(text))


def check_dicom_uid(text: str) -> str:
    if not is_dicom_uid(text):
        raise InvalidInputError(
            "A DICOM UID is up to 64 characters of digits and dots, like 1.2.840.10008.1."
        )
    return text


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date_text(value: object) -> object:
    """Dates come as YYYY-MM-DD text. Pydantic alone would also take a number (or a text of
    digits) as seconds since 1970, so a DICOM-style 20190101 or a stray 0 became a date."""
    if isinstance(value, date) or (isinstance(value, str) and _ISO_DATE.fullmatch(value)):
        return value
    raise ValueError("write the date as YYYY-MM-DD")


IsoDate = Annotated[date, BeforeValidator(_iso_date_text)]


def _iso_time_text(value: object) -> object:
    """A read time is ISO 8601 text with its zone; a number would be taken as seconds since
    1970. An implausible time is still a time: the scans service flags it (see
    :func:`clock_is_wrong`) instead of refusing the read, so a station whose clock is off never
    stalls."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and "T" in value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValueError("write the time as ISO 8601, e.g. 2026-11-28T09:30:00Z") from exc
    else:
        raise ValueError("write the time as ISO 8601, e.g. 2026-11-28T09:30:00Z")
    if moment.tzinfo is None:
        raise ValueError("give the time with its zone (Z or +hh:mm)")
    return moment


ReadTime = Annotated[datetime, BeforeValidator(_iso_time_text)]

# The earliest read time a working station clock can give: MediaTrack did not exist before.
# A station with a flat clock battery starts at 1970-01-01 (or its firmware's epoch).
EARLIEST_READ_TIME = datetime(2000, 1, 1, tzinfo=UTC)
# How far ahead of the server a station's clock may run (time zones set wrong, drift).
CLOCK_TOLERANCE = timedelta(days=1)


def clock_is_wrong(read_at: datetime, received_at: datetime) -> bool:
    """True when a station dated a read before 2000 or more than a day after it arrived."""
    return read_at < EARLIEST_READ_TIME or read_at > received_at + CLOCK_TOLERANCE
