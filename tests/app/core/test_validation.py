"""Tag UIDs, labels and DICOM UIDs: normalised or refused with a sentence, never a crash."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.errors import InvalidInputError
from app.core.validation import (
    Technology,
    check_dicom_uid,
    check_label,
    is_dicom_uid,
    normalise_uid,
)


@pytest.mark.parametrize(
    ("raw", "technology", "expected"),
    [
        ("04:a2:24:b1:c3:5e:80", Technology.ISO14443A, "04A224B1C35E80"),
        ("04-A2-24-B1", None, "04A224B1"),
        (" e0 04 01 50 12 34 56 78 ", Technology.ISO15693, "E004015012345678"),
        ("0102030405060708090a", Technology.ISO14443A, "0102030405060708090A"),
    ],
)
def test_uid_normalised(raw: str, technology: Technology | None, expected: str) -> None:
    assert normalise_uid(raw, technology) == expected


@pytest.mark.parametrize(
    ("raw", "technology", "says"),
    [
        ("", None, "hexadecimal"),
        ("04A224B1C35E8", None, "hexadecimal"),  # odd number of digits
        ("04G224B1", None, "hexadecimal"),
        ("04A224B1C3", None, "5 bytes"),
        ("04A224B1C35E80", Technology.ISO15693, "expected 8 bytes"),
        ("E004015012345678", Technology.ISO14443A, "expected 4, 7, 10 bytes"),
        ("0" * 80, None, "far too long"),
    ],
)
def test_uid_refused_with_a_sentence(raw: str, technology: Technology | None, says: str) -> None:
    with pytest.raises(InvalidInputError, match=says):
        normalise_uid(raw, technology)


@given(st.text(max_size=100))
def test_uid_fuzz_only_normalises_or_refuses(raw: str) -> None:
    try:
        uid = normalise_uid(raw)
    except InvalidInputError:
        return
    assert uid == uid.upper() and len(uid) // 2 in {4, 7, 8, 10}
    bytes.fromhex(uid)


@pytest.mark.parametrize("label", ["RAD0001234", "A", "TAPE_0001", "X" * 16])
def test_labels_accepted(label: str) -> None:
    assert check_label(label) == label


@pytest.mark.parametrize("label", ["", "rad0001", "X" * 17, "RAD-0001", "RAD 0001", "RÄD"])
def test_labels_refused(label: str) -> None:
    with pytest.raises(InvalidInputError, match="File-set ID alphabet"):
        check_label(label)


@pytest.mark.parametrize(
    ("uid", "ok"),
    [
        ("1.2.840.10008.1.2.1", True),
        ("1.2.826.0.1.3680043.10.99.1", True),
        ("1.02.3", False),  # leading zero in a component (PS3.5 9.1)
        ("1..2", False),
        ("1", False),
        ("1.2." + "1" * 70, False),  # over 64 characters
        ("1.2.a", False),
    ],
)
def test_dicom_uids(uid: str, ok: bool) -> None:
    assert is_dicom_uid(uid) is ok
    if not ok:
        with pytest.raises(InvalidInputError):
            check_dicom_uid(uid)
