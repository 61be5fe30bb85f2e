"""Read a carrier's content: DICOMDIR records, DICOM files, sizes and SHA-256.

A mounted disc, an LTFS tape or a plain folder is read once, file by file. Each file is hashed
while it is read and its DICOM header gives the instance and study it belongs to; the kernel
fetches the next files meanwhile (``Prefetch``), so the drive streams while this thread
works. With a DICOMDIR, its raw directory records are walked as well (in a second process when
it is large): pydicom's ``FileSet`` silently drops records whose file is missing, which is
exactly what an integrity check must report.

Nothing here logs or puts patient data in a message: problems name files and UIDs only.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
import signal
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from datetime import date
from enum import StrEnum
from functools import cache
from io import BytesIO
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from struct import calcsize, unpack
from typing import Any, cast

from pydicom import config, dcmread
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from app.core.errors import InvalidInputError
from app.media.headers import (
    DirectoryRecord,
    DirectoryScan,
    Header,
    UnusualError,
    plain_text,
    scan,
    scan_directory,
)

# Large reads keep the drive streaming and the per-call overhead negligible; the first chunk
# also holds the DICOM header of nearly every file (headers are a few KiB).
CHUNK_SIZE = 1 << 20
# Bytes the kernel is asked to fetch ahead of the reader (posix_fadvise WILLNEED): the drive
# streams with a deep queue while the reader hashes, instead of idling between read calls.
# Bounded so a tape's multi-gigabyte files do not flood the page cache.
PREFETCH_BYTES = 32 << 20
# A DICOMDIR at least this large (about 1,000 records; 5,000 instances make 1.2 MB) is parsed
# in a second process. Below it, forking and sending the records back cost more than the
# overlap saves: measured with cached files, 200 and 800 records were still faster in-process.
DICOMDIR_WORKER_BYTES = 256 << 10
# The DICOMDIR file name is fixed by PS3.10 section 8.6 (root of the File-set).
DICOMDIR = "DICOMDIR"
# ISO 9660 shows a version suffix (";1") and, for names without an extension, a trailing dot.
_ISO9660_VERSION = re.compile(r";\d+$")


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class ProblemCode(StrEnum):
    DICOMDIR_UNREADABLE = "dicomdir_unreadable"
    RECORD_WITHOUT_FILE = "record_without_file"
    RECORD_MISMATCH = "record_mismatch"
    FILE_WITHOUT_RECORD = "file_without_record"
    UNREADABLE_FILE = "unreadable_file"
    NOT_DICOM = "not_dicom"
    INVALID_DICOM = "invalid_dicom"
    DUPLICATE_INSTANCE = "duplicate_instance"
    NAME_CLASH = "name_clash"
    FILESET_ID_MISMATCH = "fileset_id_mismatch"
    EMPTY_STUDY_ID = "empty_study_id"
    NO_INSTANCES = "no_instances"


@dataclass(frozen=True)
class Problem:
    code: ProblemCode
    severity: Severity
    message: str
    path: str | None = None


@dataclass(frozen=True)
class FileEntry:
    """One manifest line: a file on the medium, by its canonical File ID."""

    path: str
    size: int
    sha256: str
    sop_instance_uid: str | None = None
    sop_class_uid: str | None = None
    transfer_syntax_uid: str | None = None
    study_instance_uid: str | None = None
    series_instance_uid: str | None = None


@dataclass
class StudySummary:
    study_instance_uid: str
    accession_number: str | None = None
    patient_id: str | None = None
    issuer_of_patient_id: str | None = None
    study_date: date | None = None
    study_id: str | None = None
    modalities: list[str] = field(default_factory=list)
    series_count: int = 0
    instance_count: int = 0
    # Instances the DICOMDIR lists whose file is absent or unreadable.
    missing_instance_count: int = 0


@dataclass(frozen=True)
class ReadProgress:
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int


ProgressCallback = Callable[[ReadProgress], None]


@dataclass(frozen=True)
class MediumReading:
    """What a medium holds and what is wrong with it."""

    fileset_id: str | None
    fileset_uid: str | None
    has_dicomdir: bool
    files: tuple[FileEntry, ...]
    studies: tuple[StudySummary, ...]
    problems: tuple[Problem, ...]

    @property
    def instance_count(self) -> int:
        """Distinct SOP instances (a file duplicated on the medium counts once)."""
        return len({f.sop_instance_uid for f in self.files if f.sop_instance_uid is not None})

    @property
    def byte_count(self) -> int:
        return sum(f.size for f in self.files)

    def problem_paths(self, code: ProblemCode) -> set[str]:
        return {p.path for p in self.problems if p.code is code and p.path is not None}

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types, for ``--json`` output and API answers."""
        studies = []
        for s in self.studies:
            item = asdict(s)
            item["study_date"] = s.study_date.isoformat() if s.study_date else None
            studies.append(item)
        return {
            "fileset_id": self.fileset_id,
            "fileset_uid": self.fileset_uid,
            "has_dicomdir": self.has_dicomdir,
            "instance_count": self.instance_count,
            "file_count": len(self.files),
            "byte_count": self.byte_count,
            "studies": studies,
            "files": [asdict(f) for f in self.files],
            "problems": [
                {
                    "code": p.code.value,
                    "severity": p.severity.value,
                    "message": p.message,
                    "path": p.path,
                }
                for p in self.problems
            ],
        }


def canonical_file_id(parts: list[str] | tuple[str, ...]) -> str:
    """File ID as DICOM writes it (PS3.10 8.5: upper case, "/"-joined here), whatever the mount.

    ISO 9660 mounts may show lower case names, a ";1" version and a trailing "." on names
    without extension (ECMA-119 7.5); all three are undone so a re-read matches the manifest.
    """
    return "/".join(_ISO9660_VERSION.sub("", p).rstrip(".").upper() for p in parts)


@dataclass
class _Record:
    """A DICOMDIR leaf record that references a file, with the keys of its parent records."""

    file_id: str
    sop_instance_uid: str | None
    study_instance_uid: str | None
    patient_id: str | None
    issuer_of_patient_id: str | None
    accession_number: str | None
    study_date: str | None
    study_id: str | None


@dataclass
class _Read:
    path: str
    size: int = 0
    sha256: str = ""
    head: bytes = b""
    error: str | None = None


def read_medium(
    root: Path, *, label: str | None = None, progress: ProgressCallback | None = None
) -> MediumReading:
    """Read every file under ``root`` (a mounted medium or a folder) and report on it.

    ``label`` is the carrier label; a File-set ID that differs from it is reported.
    Raises InvalidInputError only when ``root`` is not a readable folder; anything wrong with
    the content is a problem in the answer, never an exception.
    """
    if not root.is_dir():
        raise InvalidInputError("Nothing to read at {root}: it is not a folder or mounted"
                                " medium.", root=root)
    # pydicom warns and logs about invalid values, quoting them: patient data must not reach a
    # log. Value checks are for writers; a reader reports what it can use and ignores the rest.
    with config.disable_value_validation(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _read(root, label, progress)


@dataclass(frozen=True)
class _Medium:
    """The medium being read: its root, its files and the problems found so far."""

    root: Path
    on_disk: dict[str, tuple[str, int]]  # canonical File ID -> (path relative to root, size)
    problems: list[Problem]


@dataclass
class _Tally:
    """What the files read so far add up to."""

    files: list[FileEntry] = field(default_factory=list)
    studies: dict[str, StudySummary] = field(default_factory=dict)
    series: dict[str, set[str]] = field(default_factory=dict)
    seen_sops: dict[str, str] = field(default_factory=dict)  # SOP Instance UID -> File ID
    empty_study_id: set[str] = field(default_factory=set)
    bytes_done: int = 0


def _read(root: Path, label: str | None, progress: ProgressCallback | None) -> MediumReading:
    problems: list[Problem] = []
    medium = _Medium(root, _list_files(root, problems), problems)
    names = sorted(medium.on_disk)
    dicomdir = medium.on_disk.get(DICOMDIR)
    parse = _DirectoryParse(root / dicomdir[0], size=dicomdir[1]) if dicomdir else nullcontext()
    with parse as directory:
        reads = read_files(root, [(n, *medium.on_disk[n]) for n in names])
        return _collect(medium, reads, directory, label=label, progress=progress)


def _collect(
    medium: _Medium,
    reads: Iterable[_Read],
    parse: _DirectoryParse | None,
    *,
    label: str | None,
    progress: ProgressCallback | None,
) -> MediumReading:
    on_disk, problems = medium.on_disk, medium.problems
    tally = _Tally()
    bytes_total = sum(size for _, size in on_disk.values())
    # Files are read, hashed and their headers scanned while the DICOMDIR is parsed; they are
    # checked against its records once it is.
    done: list[tuple[_Read, Header | _BadHeader | None]] = []
    for item in reads:
        done.append((item, _header_or_error(medium, item)))
        tally.bytes_done += item.size
        if progress is not None:
            progress(ReadProgress(len(done), len(on_disk), tally.bytes_done, bytes_total))
    directory = parse.result(problems) if parse is not None else None
    records = directory.records if directory is not None else {}
    fileset_id = directory.fileset_id if directory is not None else None
    if label is not None and fileset_id is not None and fileset_id != label:
        problems.append(
            Problem(
                ProblemCode.FILESET_ID_MISMATCH,
                Severity.WARNING,
                f"The DICOMDIR names this File-set {fileset_id!r}, not {label!r}: check that the "
                "disc and its case or tag belong together.",
            )
        )

    for item, header in done:
        _tally_file(tally, medium, item, header, records)
    _check_records(tally, medium, records)
    _check_studies(tally, medium, records)
    for uid, summary in tally.studies.items():
        summary.series_count = len(tally.series.get(uid, ()))
        summary.modalities.sort()
    return MediumReading(
        fileset_id=fileset_id,
        fileset_uid=directory.fileset_uid if directory is not None else None,
        has_dicomdir=directory is not None,
        files=tuple(tally.files),
        studies=tuple(tally.studies[uid] for uid in sorted(tally.studies)),
        problems=tuple(problems),
    )


def _tally_file(
    tally: _Tally,
    medium: _Medium,
    item: _Read,
    header: Header | _BadHeader | None,
    records: dict[str, _Record],
) -> None:
    """Add one file read to the manifest and, when it is a new instance, to its study."""
    problems = medium.problems
    if item.error is not None:
        problems.append(
            Problem(
                ProblemCode.UNREADABLE_FILE,
                Severity.ERROR,
                f"{item.path} could not be read ({item.error}).",
                item.path,
            )
        )
        return
    if header is None:  # the DICOMDIR itself
        tally.files.append(FileEntry(item.path, item.size, item.sha256))
        return
    entry = _entry_for(item, header, records, problems)
    tally.files.append(entry)
    sop = entry.sop_instance_uid
    if sop is None or not isinstance(header, Header):
        return
    if sop in tally.seen_sops:
        # Counted once: a second copy on the same medium is not a second instance.
        problems.append(
            Problem(
                ProblemCode.DUPLICATE_INSTANCE,
                Severity.WARNING,
                f"{item.path} holds the same SOP Instance UID as {tally.seen_sops[sop]}.",
                item.path,
            )
        )
    else:
        _add_instance(tally.studies, tally.series, tally.empty_study_id, header)
        tally.seen_sops[sop] = item.path


def _check_records(tally: _Tally, medium: _Medium, records: dict[str, _Record]) -> None:
    """DICOMDIR records whose instance was not read: missing files, and missing instances."""
    instances_read = {f.path for f in tally.files if f.sop_instance_uid is not None}
    for file_id, record in sorted(records.items()):
        if file_id in instances_read:
            continue
        if file_id not in medium.on_disk:
            medium.problems.append(
                Problem(
                    ProblemCode.RECORD_WITHOUT_FILE,
                    Severity.ERROR,
                    f"The DICOMDIR lists {file_id} but the file is not on the medium.",
                    file_id,
                )
            )
        if record.study_instance_uid is not None:
            summary = tally.studies.setdefault(
                record.study_instance_uid, _summary_from_record(record)
            )
            summary.missing_instance_count += 1


def _check_studies(tally: _Tally, medium: _Medium, records: dict[str, _Record]) -> None:
    """Studies without a Study ID, and a medium without any instance."""
    for uid in sorted(tally.empty_study_id):
        medium.problems.append(
            Problem(
                ProblemCode.EMPTY_STUDY_ID,
                Severity.WARNING,
                f"Study {uid} has an empty Study ID (0020,0010); tools that rebuild a DICOMDIR "
                "from these files will refuse it.",
            )
        )
    if not tally.seen_sops and not records:
        medium.problems.append(
            Problem(
                ProblemCode.NO_INSTANCES,
                Severity.ERROR,
                "No DICOM instances were found on the medium.",
            )
        )


def _list_files(root: Path, problems: list[Problem]) -> dict[str, tuple[str, int]]:
    """Canonical File ID -> (path relative to root, size) for every regular file."""
    found: dict[str, tuple[str, int]] = {}
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        try:
            entries = list(os.scandir(root / rel_dir))
        except OSError as exc:
            problems.append(
                Problem(
                    ProblemCode.UNREADABLE_FILE,
                    Severity.ERROR,
                    f"The folder {rel_dir or '.'} could not be listed ({exc.strerror}).",
                    rel_dir or ".",
                )
            )
            continue
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            # Symbolic links are not followed: a medium has none, and a folder's links may loop.
            if entry.is_dir(follow_symlinks=False):
                stack.append(rel)
            elif entry.is_file(follow_symlinks=False):
                file_id = canonical_file_id(rel.split("/"))
                if file_id in found:
                    problems.append(
                        Problem(
                            ProblemCode.NAME_CLASH,
                            Severity.WARNING,
                            f"{rel} and {found[file_id][0]} differ only in letter case; only the "
                            "first is read.",
                            file_id,
                        )
                    )
                    continue
                found[file_id] = (rel, entry.stat(follow_symlinks=False).st_size)
    return found


@dataclass(frozen=True)
class _Directory:
    fileset_id: str | None
    fileset_uid: str | None
    records: dict[str, _Record]


class _DirectoryParse:
    """The DICOMDIR's parse, in a second process when it is large, while this one reads files.

    The struct walk (``scan_directory``) takes about 30 us per directory record, pydicom about
    0.2 ms (1 s for a 5,000-instance disc): in this process either would hold up the files'
    stream, which this process reads, hashes and scans meanwhile. The worker is forked (a
    spawned interpreter spends 0.75 s importing, longer than the parse); reading runs in the
    command line's process, which has no other threads to fork in a locked state. It ignores
    Ctrl-C (the terminal sends SIGINT to the whole process group) and is killed on leaving,
    whether the read ended or failed.
    """

    def __init__(self, path: Path, *, size: int) -> None:
        self._path = path
        self._process: BaseProcess | None = None
        if size < DICOMDIR_WORKER_BYTES:
            return
        context = multiprocessing.get_context("fork")
        self._answer, send = context.Pipe(duplex=False)
        process = context.Process(
            target=_parse_directory, args=(path, send), name="media-dicomdir", daemon=True
        )
        try:
            process.start()
        except OSError:  # no process to spare (limits, memory): parse here instead
            self._answer.close()
        else:
            self._process = process
        finally:
            send.close()

    def result(self, problems: list[Problem]) -> _Directory | None:
        """The parsed DICOMDIR; its problems are added to ``problems``."""
        if self._process is not None:
            try:
                directory, found = self._answer.recv()
            except EOFError:
                pass  # the worker died (killed, out of memory): parse here instead
            else:
                problems.extend(found)
                return cast(_Directory | None, directory)
        return _read_dicomdir(self._path, problems)

    def __enter__(self) -> _DirectoryParse:
        return self

    def __exit__(self, *_: object) -> None:
        if self._process is None:
            return
        self._answer.close()
        if self._process.is_alive():
            self._process.kill()
        self._process.join()
        self._process.close()


def _parse_directory(path: Path, send: Connection) -> None:
    """The worker's whole life: parse, send the answer, end."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Forked inside read_medium: pydicom's value validation and the warnings stay silenced.
    problems: list[Problem] = []
    directory = _read_dicomdir(path, problems)
    send.send((directory, problems))
    send.close()


def _read_dicomdir(path: Path, problems: list[Problem]) -> _Directory | None:
    """The DICOMDIR's identity and records, or None (and a problem) when it is damaged."""
    try:
        scanned = scan_directory(path.read_bytes()) or _from_pydicom(dcmread(path))
        broken = _dangling_offsets(scanned)
        if not broken:
            return _Directory(
                fileset_id=scanned.fileset_id,
                fileset_uid=scanned.fileset_uid,
                records=_leaf_records(scanned),
            )
    except Exception as exc:  # any parse failure is a report, not a crash
        broken = type(exc).__name__
    problems.append(
        Problem(
            ProblemCode.DICOMDIR_UNREADABLE,
            Severity.ERROR,
            f"The DICOMDIR is damaged ({broken}); every file on the medium was read instead.",
            DICOMDIR,
        )
    )
    return None


def _from_pydicom(ds: Dataset) -> DirectoryScan:
    """What ``scan_directory`` gives, from pydicom's parse of a DICOMDIR the scan left to it.

    pydicom converts values lazily, so only what the tree walk reads is converted (a patient's
    keys only on a PATIENT record, ...), here, where a failure is caught."""
    return DirectoryScan(
        fileset_id=_text(ds, "FileSetID"),
        fileset_uid=_text(ds.file_meta, "MediaStorageSOPInstanceUID"),
        first_root=_get(ds, "OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity"),
        last_root=_get(ds, "OffsetOfTheLastDirectoryRecordOfTheRootDirectoryEntity"),
        records=[_record_of(item) for item in ds.DirectoryRecordSequence],
    )


def _record_of(item: Dataset) -> DirectoryRecord:
    kind = _text(item, "DirectoryRecordType")
    patient, study = kind == "PATIENT", kind == "STUDY"
    in_use = _get(item, "RecordInUseFlag")
    return DirectoryRecord(
        offset=item.seq_item_tell,  # where pydicom found the item: what offsets point at
        next=_get(item, "OffsetOfTheNextDirectoryRecord"),
        in_use=in_use,
        lower=_get(item, "OffsetOfReferencedLowerLevelDirectoryEntity"),
        kind=kind,
        file_id=_file_id(item) if in_use != 0 else None,
        sop_instance_uid=_text(item, "ReferencedSOPInstanceUIDInFile"),
        study_date=_text(item, "StudyDate") if study else None,
        accession_number=_text(item, "AccessionNumber") if study else None,
        patient_id=_text(item, "PatientID") if patient else None,
        issuer_of_patient_id=_text(item, "IssuerOfPatientID") if patient else None,
        study_instance_uid=_text(item, "StudyInstanceUID") if study else None,
        study_id=_text(item, "StudyID") if study else None,
    )


def _file_id(record: Dataset) -> tuple[str, ...] | None:
    if "ReferencedFileID" not in record:
        return None
    raw = record.ReferencedFileID
    return (raw,) if isinstance(raw, str) else tuple(str(p) for p in raw)


def _dangling_offsets(directory: DirectoryScan) -> str:
    """Why the record tree is broken, or "" when every offset lands on a record.

    pydicom reads a truncated DICOMDIR without complaint; the offsets (PS3.3 F.3.2.1) of the
    root (0004,1200/1202), next (0004,1400) and lower-level (0004,1420) records then point past
    the records it could read.
    """
    offsets = {record.offset for record in directory.records}
    pointers = [directory.first_root, directory.last_root]
    for record in directory.records:
        pointers.append(record.next)
        pointers.append(record.lower)
    dangling = sum(1 for p in pointers if p and p not in offsets)
    return f"{dangling} record offsets point nowhere: truncated or corrupt" if dangling else ""


def _leaf_records(directory: DirectoryScan) -> dict[str, _Record]:
    """Every in-use record that references a file, with the keys of its parent records.

    The tree is walked by offsets (PS3.10 8.6 / PS3.3 F.3.2.1: next record (0004,1400),
    lower level (0004,1420)); records no walk reaches are still kept, without parent keys.
    """
    by_offset = {record.offset: record for record in directory.records}
    visited: set[int] = set()
    found: dict[str, _Record] = {}

    def visit(offset: int, context: dict[str, str | None]) -> None:
        while offset and offset in by_offset and offset not in visited:
            visited.add(offset)
            record = by_offset[offset]
            here = _context(record, context)
            _keep_leaf(record, here, found)
            visit(int(record.lower or 0), here)
            offset = int(record.next or 0)

    visit(int(directory.first_root or 0), {})
    for record in directory.records:
        if record.offset not in visited:
            _keep_leaf(record, _context(record, {}), found)
    return found


def _context(record: DirectoryRecord, parent: dict[str, str | None]) -> dict[str, str | None]:
    here = dict(parent)
    if record.kind == "PATIENT":
        here["patient_id"] = record.patient_id
        here["issuer_of_patient_id"] = record.issuer_of_patient_id
    elif record.kind == "STUDY":
        # PS3.3 F.5.2: StudyInstanceUID is 1C, absent when (0004,1511) names the study.
        here["study_instance_uid"] = record.study_instance_uid or record.sop_instance_uid
        here["accession_number"] = record.accession_number
        here["study_date"] = record.study_date
        here["study_id"] = record.study_id
    return here


def _keep_leaf(
    record: DirectoryRecord, context: dict[str, str | None], found: dict[str, _Record]
) -> None:
    # Record In-use Flag (0004,1410): 0x0000 marks a deleted record (PS3.3 F.3.2.2).
    if record.file_id is None or record.in_use == 0:
        return
    file_id = canonical_file_id(record.file_id)
    found[file_id] = _Record(
        file_id=file_id,
        sop_instance_uid=record.sop_instance_uid,
        study_instance_uid=context.get("study_instance_uid"),
        patient_id=context.get("patient_id"),
        issuer_of_patient_id=context.get("issuer_of_patient_id"),
        accession_number=context.get("accession_number"),
        study_date=context.get("study_date"),
        study_id=context.get("study_id"),
    )


def read_files(root: Path, names: list[tuple[str, str, int]]) -> Iterator[_Read]:
    """Each file read and hashed in turn, in the order given, with the kernel fetching ahead.

    ``names``: (File ID, path relative to ``root``, size) in reading order. The caller scans
    each header on this same thread: handing files over from a reader thread cost more in
    thread switches than the overlap saved (an import took 1.0 to 1.1 s that way against 0.75
    to 0.8 s on one thread, 5,000 cached files; docs/performance.md), and the read-ahead
    advice already keeps the drive streaming while the CPU works.
    """
    view = memoryview(bytearray(CHUNK_SIZE))
    prefetch = Prefetch([(root / rel, size) for _, rel, size in names])
    for file_id, rel, _ in names:
        yield _read_one(root / rel, file_id, view, prefetch)


class Prefetch:
    """Keeps the kernel fetching up to PREFETCH_BYTES ahead of the reader (POSIX_FADV_WILLNEED).

    One read call at a time leaves a fast disk idle between calls and a slow one seeking
    between files; the advice queues the next files' reads, so the device streams at its own
    pace while the reader hashes what has arrived. It is only advice: a file that cannot be
    opened here is reported by the read itself.
    """

    def __init__(self, files: list[tuple[Path, int]]) -> None:
        self._files = files
        self._next = 0  # the first file not fully advised
        self._offset = 0  # bytes of it advised
        self._ahead = 0  # bytes advised in all, from the first file on
        self._position = 0  # bytes the reader has read, likewise

    def read(self, count: int) -> None:
        """The reader has read ``count`` more bytes: advise further once half the window is used."""
        self._position += count
        if not hasattr(os, "posix_fadvise") or self._ahead - self._position > PREFETCH_BYTES // 2:
            return
        target = self._position + PREFETCH_BYTES
        while self._ahead < target and self._next < len(self._files):
            path, size = self._files[self._next]
            step = min(size - self._offset, target - self._ahead)
            if step > 0:  # a length of 0 would mean "to the end of the file"
                _advise(path, self._offset, step)
            self._offset += step
            self._ahead += step
            if self._offset >= size:
                self._next += 1
                self._offset = 0


def _advise(path: Path, offset: int, length: int) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.posix_fadvise(fd, offset, length, os.POSIX_FADV_WILLNEED)
    except OSError:
        pass  # not every file system takes advice
    finally:
        os.close(fd)


def _read_one(path: Path, file_id: str, view: memoryview, prefetch: Prefetch) -> _Read:
    digest = hashlib.sha256()
    size = 0
    head = b""
    try:
        prefetch.read(0)
        with open(path, "rb", buffering=0) as f:
            while n := f.readinto(view):
                prefetch.read(n)
                if not head:
                    head = bytes(view[:n])
                digest.update(view[:n])
                size += n
    except OSError as exc:
        return _Read(file_id, size, error=exc.strerror or type(exc).__name__)
    return _Read(file_id, size, digest.hexdigest(), head)


def _parse(data: bytes | Path) -> Dataset:
    return dcmread(BytesIO(data) if isinstance(data, bytes) else data, stop_before_pixels=True)


def _dataset(path: Path, item: _Read) -> Dataset:
    """The header, from the first chunk when it holds it, else from the file."""
    try:
        ds = _parse(item.head)
        if ("SOPInstanceUID" in ds and "StudyInstanceUID" in ds) or len(item.head) == item.size:
            return ds
    except InvalidDicomError:
        raise
    except Exception:  # a header longer than the first chunk: read the file
        if len(item.head) == item.size:
            raise
    return _parse(path)


def _header(ds: Dataset) -> Header:
    return Header(
        sop_instance_uid=_text(ds, "SOPInstanceUID"),
        sop_class_uid=_text(ds, "SOPClassUID"),
        transfer_syntax_uid=_text(ds.file_meta, "TransferSyntaxUID"),
        study_instance_uid=_text(ds, "StudyInstanceUID"),
        series_instance_uid=_text(ds, "SeriesInstanceUID"),
        accession_number=_text(ds, "AccessionNumber"),
        patient_id=_text(ds, "PatientID"),
        issuer_of_patient_id=_text(ds, "IssuerOfPatientID"),
        study_date=_text(ds, "StudyDate"),
        study_id=_text(ds, "StudyID"),
        modality=_text(ds, "Modality"),
    )


@dataclass(frozen=True)
class _BadHeader:
    """Why a file's header is unusable: not DICOM at all, or the name of the parse error."""

    not_dicom: bool
    error: str = ""


def _header_or_error(medium: _Medium, item: _Read) -> Header | _BadHeader | None:
    """The header of a file read (None for the DICOMDIR or an unreadable file)."""
    if item.error is not None or item.path == DICOMDIR:
        return None
    try:
        # pydicom converts values lazily: every value used is converted here, inside the try.
        return scan(item.head, whole_file=len(item.head) == item.size) or _header(
            _dataset(medium.root / medium.on_disk[item.path][0], item)
        )
    except InvalidDicomError:
        # PS3.10 7.1: a DICOM file starts with a 128-byte preamble and "DICM".
        return _BadHeader(not_dicom=True)
    except Exception as exc:  # a damaged header is a report, not a crash
        return _BadHeader(not_dicom=False, error=type(exc).__name__)
    finally:
        # Only the header was needed: the file's bytes are not kept until the DICOMDIR is in.
        item.head = b""


def _entry_for(
    item: _Read, header: Header | _BadHeader, records: dict[str, _Record], problems: list[Problem]
) -> FileEntry:
    """The manifest line for a file; its UIDs when it is a usable DICOM instance."""
    plain = FileEntry(item.path, item.size, item.sha256)
    record = records.get(item.path)
    if isinstance(header, _BadHeader) and header.not_dicom:
        listed = record is not None
        problems.append(
            Problem(
                ProblemCode.NOT_DICOM,
                Severity.ERROR if listed else (Severity.INFO if records else Severity.WARNING),
                f"{item.path} is not a DICOM file"
                + (" although the DICOMDIR lists it." if listed else "."),
                item.path,
            )
        )
        return plain
    if not isinstance(header, Header):
        problems.append(
            Problem(
                ProblemCode.INVALID_DICOM,
                Severity.ERROR,
                f"{item.path} starts like DICOM but its header cannot be read "
                f"({header.error}).",
                item.path,
            )
        )
        return plain
    entry = FileEntry(
        item.path,
        item.size,
        item.sha256,
        sop_instance_uid=header.sop_instance_uid,
        sop_class_uid=header.sop_class_uid,
        transfer_syntax_uid=header.transfer_syntax_uid,
        study_instance_uid=header.study_instance_uid,
        series_instance_uid=header.series_instance_uid,
    )
    if entry.sop_instance_uid is None or entry.study_instance_uid is None:
        problems.append(
            Problem(
                ProblemCode.INVALID_DICOM,
                Severity.ERROR,
                f"{item.path} lacks a SOP Instance UID or Study Instance UID.",
                item.path,
            )
        )
        return plain
    if records and record is None:
        problems.append(
            Problem(
                ProblemCode.FILE_WITHOUT_RECORD,
                Severity.WARNING,
                f"{item.path} is a DICOM file the DICOMDIR does not list.",
                item.path,
            )
        )
    elif record is not None and record.sop_instance_uid not in (None, entry.sop_instance_uid):
        problems.append(
            Problem(
                ProblemCode.RECORD_MISMATCH,
                Severity.ERROR,
                f"The DICOMDIR record for {item.path} names another SOP Instance UID "
                "than the file.",
                item.path,
            )
        )
    return entry


def _add_instance(
    studies: dict[str, StudySummary],
    series: dict[str, set[str]],
    empty_study_id: set[str],
    header: Header,
) -> None:
    uid = header.study_instance_uid or ""
    summary = studies.get(uid)
    if summary is None:
        summary = studies[uid] = StudySummary(
            study_instance_uid=uid,
            accession_number=header.accession_number,
            patient_id=header.patient_id,
            issuer_of_patient_id=header.issuer_of_patient_id,
            study_date=_date(header.study_date),
            study_id=header.study_id,
        )
    summary.instance_count += 1
    if header.modality is not None and header.modality not in summary.modalities:
        summary.modalities.append(header.modality)
    if header.series_instance_uid is not None:
        series.setdefault(uid, set()).add(header.series_instance_uid)
    # Study ID (0020,0010) is type 2 in the image IODs but type 1 in a DICOMDIR STUDY record.
    if header.study_id is None:
        empty_study_id.add(uid)


def _summary_from_record(record: _Record) -> StudySummary:
    return StudySummary(
        study_instance_uid=record.study_instance_uid or "",
        accession_number=record.accession_number,
        patient_id=record.patient_id,
        issuer_of_patient_id=record.issuer_of_patient_id,
        study_date=_date(record.study_date),
        study_id=record.study_id,
    )


# Value representations read without pydicom's conversion (PS3.5 6.2) when plain.
_TEXT_VRS = frozenset({"UI", "CS", "SH", "LO", "DA"})
_NUMBER_FORMATS = {"UL": "<I", "US": "<H"}


def _get(ds: Dataset, keyword: str, default: Any = None) -> Any:
    """``ds.get(keyword, default)``, decoding a plain value straight from its raw bytes.

    pydicom's general conversion takes several microseconds per element, and a DICOMDIR has
    tens of thousands. A plain value (one ASCII text, one little-endian number) reads the same
    either way; anything else goes through pydicom.
    """
    tag, vr = _tag_and_vr(keyword)
    raw = ds.get_item(tag)
    if raw is None:
        return default
    if isinstance(raw, RawDataElement) and isinstance(raw.value, bytes) and raw.VR in (None, vr):
        if vr in _TEXT_VRS:
            try:
                return plain_text(raw.value)
            except UnusualError:
                pass
        elif vr in _NUMBER_FORMATS and raw.is_little_endian:
            number_format = _NUMBER_FORMATS[vr]
            if len(raw.value) == calcsize(number_format):
                return unpack(number_format, raw.value)[0]
    return ds.get(keyword, default)


@cache
def _tag_and_vr(keyword: str) -> tuple[int, str]:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(keyword)  # a typo in this module, not a problem of the medium
    return tag, dictionary_VR(tag)


def _text(ds: Dataset, keyword: str) -> str | None:
    """A string attribute, stripped of DICOM padding; None when absent or empty."""
    value = _get(ds, keyword)
    if value is None:
        return None
    text = str(value).strip().rstrip("\x00").strip()
    return text or None


def _date(value: str | None) -> date | None:
    """DA (PS3.5 6.2): YYYYMMDD; anything else is treated as unknown."""
    if value is None or len(value) != 8 or not value.isdigit():
        return None
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        return None
