"""Generated DICOM media for tests and the benchmark: instances, studies and File-sets.

Pixel data is raw bytes (no numpy): the reader never decodes pixels, only hashes them.
Compressed transfer syntaxes get encapsulated frames (PS3.5 A.4) of filler bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.fileset import FileSet
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    RLELossless,
    generate_uid,
)

# Storage SOP classes (PS3.4 B.5).
CT_IMAGE = UID("1.2.840.10008.5.1.4.1.1.2")
MR_IMAGE = UID("1.2.840.10008.5.1.4.1.1.4")
XA_IMAGE = UID("1.2.840.10008.5.1.4.1.1.12.1")  # multi-frame capable
CR_IMAGE = UID("1.2.840.10008.5.1.4.1.1.1")
SOP_CLASS = {"CT": CT_IMAGE, "MR": MR_IMAGE, "XA": XA_IMAGE, "CR": CR_IMAGE}
COMPRESSED = (RLELossless, JPEGBaseline8Bit, JPEG2000Lossless)


@dataclass
class SeriesSpec:
    modality: str
    instances: int
    frames: int = 1
    transfer_syntax: UID = ExplicitVRLittleEndian
    rows: int = 16
    uid: str = field(default_factory=lambda: str(generate_uid()))


@dataclass
class StudySpec:
    patient_id: str
    series: list[SeriesSpec]
    accession: str = "ACC0001"
    study_id: str = "1"
    study_date: str = "20240115"
    issuer: str = "HOSP"
    uid: str = field(default_factory=lambda: str(generate_uid()))

    @property
    def instance_count(self) -> int:
        return sum(s.instances for s in self.series)


def instance(study: StudySpec, series: SeriesSpec, number: int) -> Dataset:
    """One Part-10 instance of ``series`` in ``study``, ready for ``save_as``."""
    sop_class = SOP_CLASS[series.modality]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = series.transfer_syntax
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = "TEST^PATIENT"
    ds.PatientID = study.patient_id
    ds.IssuerOfPatientID = study.issuer
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.StudyInstanceUID = study.uid
    ds.StudyDate = study.study_date
    ds.StudyTime = "101500"
    ds.StudyID = study.study_id
    ds.AccessionNumber = study.accession
    ds.ReferringPhysicianName = ""
    ds.Modality = series.modality
    ds.SeriesInstanceUID = series.uid
    ds.SeriesNumber = 1
    ds.InstanceNumber = number
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ds.Columns = series.rows
    ds.BitsAllocated = 8 if series.transfer_syntax == JPEGBaseline8Bit else 16
    ds.BitsStored = ds.BitsAllocated
    ds.HighBit = ds.BitsAllocated - 1
    ds.PixelRepresentation = 0
    if series.frames > 1:
        ds.NumberOfFrames = series.frames
    frame_size = series.rows * series.rows * ds.BitsAllocated // 8
    frames = [bytes([(number + f) % 251]) * frame_size for f in range(series.frames)]
    if series.transfer_syntax in COMPRESSED:
        ds.PixelData = encapsulate(frames)
        ds["PixelData"].VR = "OB"
    else:
        ds.PixelData = b"".join(frames)
        ds["PixelData"].VR = "OW"
    return ds


def write_folder(root: Path, studies: Iterable[StudySpec]) -> list[Path]:
    """Instances as loose files (a tape or folder without DICOMDIR)."""
    paths = []
    for s, study in enumerate(studies):
        for e, series in enumerate(study.series):
            folder = root / f"S{s:03d}" / f"E{e:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            for n in range(series.instances):
                path = folder / f"I{n:05d}.dcm"
                instance(study, series, n + 1).save_as(path, enforce_file_format=True)
                paths.append(path)
    return paths


def write_fileset(root: Path, studies: Iterable[StudySpec], *, fileset_id: str) -> FileSet:
    """A DICOMDIR File-set as a media creator writes it (PS3.10 / PS3.11 STD-GEN-CD)."""
    staging = root.parent / f"{root.name}-staging"
    write_folder(staging, studies)
    fs = FileSet()
    fs.ID = fileset_id
    for path in sorted(staging.rglob("*.dcm")):
        fs.add(str(path))
    root.mkdir(parents=True, exist_ok=True)
    fs.write(str(root))
    return fs


def mixed_studies() -> list[StudySpec]:
    """Several patients, studies and modalities, multi-frame and compressed syntaxes."""
    return [
        StudySpec(
            "PID001", [SeriesSpec("CT", 4), SeriesSpec("CT", 2, transfer_syntax=RLELossless)]
        ),
        StudySpec(
            "PID001",
            [SeriesSpec("MR", 3, transfer_syntax=ImplicitVRLittleEndian)],
            accession="ACC0002",
            study_date="20230301",
        ),
        StudySpec(
            "PID002",
            [
                SeriesSpec("XA", 2, frames=5, transfer_syntax=JPEGBaseline8Bit),
                SeriesSpec("CR", 1, transfer_syntax=JPEG2000Lossless),
            ],
            accession="ACC0003",
            issuer="",
        ),
    ]
