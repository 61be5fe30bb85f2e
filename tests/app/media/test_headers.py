from __future__ import annotations

from io import BytesIO
from pathlib import Path
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom import config, dcmread
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from app.media import reading
from app.media.headers import Header, scan, scan_directory
from app.media.reading import _header
from tests.app.media import factory


def pydicom_header(data: bytes) -> Header:
    """What pydicom makes of the same bytes: the path every unusual header takes."""
    with config.disable_value_validation():
        return _header(dcmread(BytesIO(data), stop_before_pixels=True))


def written(tmp_path: Path, studies: list[factory.StudySpec]) -> list[bytes]:
    return [p.read_bytes() for p in factory.write_folder(tmp_path / "f", studies)]


class TestScan:
    def test_same_header_as_pydicom_for_every_syntax(self, tmp_path: Path) -> None:
        files = written(tmp_path, factory.mixed_studies())
        syntaxes = set()

        for data in files:
            header = scan(data, whole_file=True)
            assert header is not None
            assert header == pydicom_header(data)
            syntaxes.add(header.transfer_syntax_uid)

        # Explicit and implicit VR, native and encapsulated pixel data.
        assert len(syntaxes) >= 4

    def test_undefined_length_sequences_are_walked(self, tmp_path: Path) -> None:
        spec = factory.StudySpec("PID010", [factory.SeriesSpec("CT", 1)])
        ds = factory.instance(spec, spec.series[0], 1)
        inner = Dataset()
        inner.ReferencedSOPClassUID = factory.CT_IMAGE
        inner.ReferencedSOPInstanceUID = "1.2.3.4"
        nested = Dataset()
        nested.CodeValue = "X"
        inner.PurposeOfReferenceCodeSequence = Sequence([nested])
        ds.ReferencedImageSequence = Sequence([inner, Dataset()])
        for element in (ds["ReferencedImageSequence"], inner["PurposeOfReferenceCodeSequence"]):
            element.is_undefined_length = True
        ds.save_as(tmp_path / "seq.dcm", enforce_file_format=True)
        data = (tmp_path / "seq.dcm").read_bytes()

        header = scan(data, whole_file=True)

        assert header is not None
        assert header == pydicom_header(data)
        assert header.patient_id == "PID010"

    def test_a_chunk_that_ends_inside_the_header_is_left_to_pydicom(
        self, tmp_path: Path
    ) -> None:
        data = written(tmp_path, [factory.StudySpec("PID011", [factory.SeriesSpec("CT", 1)])])[0]

        assert scan(data[:600], whole_file=False) is None
        assert scan(data, whole_file=False) is not None  # the pixel data ends the header

    @pytest.mark.parametrize(
        "value",
        ["PAT\\ID", "PATIENT\u00e9", "ID\x00X"],
        ids=["two values", "non-ASCII", "NUL inside"],
    )
    def test_values_that_are_not_plain_are_left_to_pydicom(
        self, tmp_path: Path, value: str
    ) -> None:
        spec = factory.StudySpec("PID012", [factory.SeriesSpec("CT", 1)])
        ds = factory.instance(spec, spec.series[0], 1)
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.PatientID = value
        ds.save_as(tmp_path / "x.dcm", enforce_file_format=True)

        assert scan((tmp_path / "x.dcm").read_bytes(), whole_file=True) is None

    def test_not_dicom(self) -> None:
        assert scan(b"not an image" * 20, whole_file=True) is None

    @settings(
        max_examples=300,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(st.data())
    def test_damaged_headers_get_pydicoms_answer_or_none(
        self, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
    ) -> None:
        # Whatever the damage, the scan either agrees with pydicom or leaves the file to it:
        # it never accepts a header pydicom refuses, nor reads other values from it.
        root = tmp_path_factory.mktemp("fuzz")
        syntax = data.draw(st.sampled_from([ExplicitVRLittleEndian, ImplicitVRLittleEndian]))
        spec = factory.StudySpec("PID013", [factory.SeriesSpec("CT", 1, transfer_syntax=syntax)])
        content = bytearray(factory.write_folder(root, [spec])[0].read_bytes())
        for _ in range(data.draw(st.integers(1, 6))):
            at = 132 + data.draw(st.integers(0, 599))
            content[at] = data.draw(st.integers(0, 255))
        damaged = bytes(content)

        header = scan(damaged, whole_file=True)

        if header is not None:
            assert header == pydicom_header(damaged)


def read_dicomdir(path: Path, *, scanned: bool) -> tuple[object, list[object]]:
    """The DICOMDIR as the import reads it: by the scan where it answers, or by pydicom alone."""
    problems: list[reading.Problem] = []
    with config.disable_value_validation():
        if scanned:
            return reading._read_dicomdir(path, problems), problems
        with patch.object(reading, "scan_directory", lambda buf: None):
            return reading._read_dicomdir(path, problems), problems


class TestScanDirectory:
    def test_same_records_as_pydicom(self, tmp_path: Path) -> None:
        root = tmp_path / "disc"
        factory.write_fileset(root, factory.mixed_studies(), fileset_id="SCAN0001")
        data = (root / "DICOMDIR").read_bytes()

        scanned = scan_directory(data)

        assert scanned is not None
        assert scanned.fileset_id == "SCAN0001"
        assert {r.kind for r in scanned.records} == {"PATIENT", "STUDY", "SERIES", "IMAGE"}
        directory, problems = read_dicomdir(root / "DICOMDIR", scanned=True)
        assert (directory, problems) == read_dicomdir(root / "DICOMDIR", scanned=False)
        assert not problems and directory is not None

    def test_an_undefined_length_record_sequence(self, tmp_path: Path) -> None:
        root = tmp_path / "disc"
        factory.write_fileset(root, factory.mixed_studies()[:1], fileset_id="SCAN0002")
        data = bytearray((root / "DICOMDIR").read_bytes())
        # The records are the last element: its length becomes undefined (PS3.5 7.5.2) and a
        # Sequence Delimitation Item ends it. The items, and so the offsets, stay where they are.
        at = data.index(b"\x04\x00\x20\x12SQ\x00\x00")
        data[at + 8 : at + 12] = b"\xff\xff\xff\xff"
        (root / "DICOMDIR").write_bytes(bytes(data) + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00")

        assert scan_directory((root / "DICOMDIR").read_bytes()) is not None
        directory, problems = read_dicomdir(root / "DICOMDIR", scanned=True)
        assert (directory, problems) == read_dicomdir(root / "DICOMDIR", scanned=False)
        assert not problems

    def test_values_that_are_not_plain_are_left_to_pydicom(self, tmp_path: Path) -> None:
        root = tmp_path / "disc"
        factory.write_fileset(root, factory.mixed_studies()[:1], fileset_id="SCAN0003")
        data = (root / "DICOMDIR").read_bytes()
        # A File ID component with a byte outside ASCII: pydicom decides what it reads as.
        name = data.index(b"IM000000")
        altered = data[:name] + b"IM00000\xe9" + data[name + 8 :]

        assert scan_directory(altered) is None

    def test_a_binary_value_of_the_wrong_length(self, tmp_path: Path) -> None:
        # The group length (0002,0000) UL said to be 18 bytes long: the walk would land on the
        # element after the next one, whole, but pydicom refuses a UL of 18 bytes.
        root = tmp_path / "disc"
        factory.write_fileset(root, factory.mixed_studies()[:1], fileset_id="SCAN0004")
        data = bytearray((root / "DICOMDIR").read_bytes())
        assert data[132:140] == b"\x02\x00\x00\x00UL\x04\x00"
        data[138] = 18
        (root / "DICOMDIR").write_bytes(bytes(data))

        assert scan_directory(bytes(data)) is None
        directory, problems = read_dicomdir(root / "DICOMDIR", scanned=True)
        assert directory is None and [p.code for p in problems] == ["dicomdir_unreadable"]

    def test_not_a_dicomdir(self) -> None:
        assert scan_directory(b"not a DICOMDIR" * 20) is None

    @settings(
        max_examples=200,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(st.data())
    def test_damaged_dicomdirs_get_pydicoms_answer(
        self, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
    ) -> None:
        # Whatever the damage, the import reads the same records and reports the same problem
        # as with pydicom alone: the scan answers alike or leaves the file to pydicom.
        root = tmp_path_factory.mktemp("fuzz") / "disc"
        spec = factory.StudySpec("PID014", [factory.SeriesSpec("CT", 3)])
        factory.write_fileset(root, [spec], fileset_id="FUZZ0001")
        dicomdir = bytearray((root / "DICOMDIR").read_bytes())
        for _ in range(data.draw(st.integers(1, 8))):
            # A position as a fraction: generated UIDs vary in length from run to run.
            at = 132 + data.draw(st.integers(0, 9999)) * (len(dicomdir) - 132) // 10000
            dicomdir[at] = data.draw(st.integers(0, 255))
        (root / "DICOMDIR").write_bytes(bytes(dicomdir))

        assert read_dicomdir(root / "DICOMDIR", scanned=True) == read_dicomdir(
            root / "DICOMDIR", scanned=False
        )
