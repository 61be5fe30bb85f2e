from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom import config, dcmread
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from app.media.headers import Header, scan
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
