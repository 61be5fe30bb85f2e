from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom import dcmread

from app.core.errors import InvalidInputError
from app.media.reading import (
    MediumReading,
    ProblemCode,
    ReadProgress,
    Severity,
    canonical_file_id,
    read_medium,
)
from tests.app.media import factory

LABEL = "RAD0001"


@pytest.fixture
def studies() -> list[factory.StudySpec]:
    return factory.mixed_studies()


@pytest.fixture
def disc(tmp_path: Path, studies: list[factory.StudySpec]) -> Path:
    root = tmp_path / "disc"
    factory.write_fileset(root, studies, fileset_id=LABEL)
    return root


def image_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("IM*") if p.is_file())


def codes(reading: MediumReading) -> list[ProblemCode]:
    return [p.code for p in reading.problems]


def assert_no_patient_data(reading: MediumReading, studies: list[factory.StudySpec]) -> None:
    for problem in reading.problems:
        for study in studies:
            assert study.patient_id not in problem.message
        assert "TEST" not in problem.message


class TestGoodMedia:
    def test_fileset_studies_and_manifest(
        self, disc: Path, studies: list[factory.StudySpec]
    ) -> None:
        reading = read_medium(disc, label=LABEL)

        assert reading.problems == ()
        assert reading.has_dicomdir
        assert reading.fileset_id == LABEL
        meta = dcmread(disc / "DICOMDIR").file_meta
        assert reading.fileset_uid == str(meta.MediaStorageSOPInstanceUID)
        by_uid = {s.study_instance_uid: s for s in reading.studies}
        assert set(by_uid) == {s.uid for s in studies}
        for spec in studies:
            summary = by_uid[spec.uid]
            assert summary.instance_count == spec.instance_count
            assert summary.series_count == len(spec.series)
            assert summary.modalities == sorted({s.modality for s in spec.series})
            assert summary.patient_id == spec.patient_id
            assert summary.issuer_of_patient_id == (spec.issuer or None)
            assert summary.accession_number == spec.accession
            assert summary.study_date is not None
            assert summary.study_date.strftime("%Y%m%d") == spec.study_date
            assert summary.missing_instance_count == 0
        # Every instance plus the DICOMDIR, each with its own digest.
        assert len(reading.files) == sum(s.instance_count for s in studies) + 1
        assert reading.instance_count == sum(s.instance_count for s in studies)
        assert all(len(f.sha256) == 64 for f in reading.files)
        syntaxes = {f.transfer_syntax_uid for f in reading.files if f.sop_instance_uid}
        assert {str(t) for t in factory.COMPRESSED} <= syntaxes

    def test_digest_and_size_are_the_files_own(self, disc: Path) -> None:
        import hashlib

        reading = read_medium(disc)
        entry = next(f for f in reading.files if f.path.startswith("PT"))
        data = (disc / entry.path).read_bytes()
        assert entry.size == len(data)
        assert entry.sha256 == hashlib.sha256(data).hexdigest()

    def test_folder_without_dicomdir(
        self, tmp_path: Path, studies: list[factory.StudySpec]
    ) -> None:
        factory.write_folder(tmp_path / "tape", studies)

        reading = read_medium(tmp_path / "tape", label=LABEL)

        assert reading.problems == ()
        assert not reading.has_dicomdir
        assert reading.fileset_id is None
        assert {s.study_instance_uid: s.instance_count for s in reading.studies} == {
            s.uid: s.instance_count for s in studies
        }

    def test_header_larger_than_first_chunk(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from app.media import reading as module

        monkeypatch.setattr(module, "CHUNK_SIZE", 256)
        spec = factory.StudySpec("PID009", [factory.SeriesSpec("CT", 2)])
        factory.write_folder(tmp_path / "f", [spec])

        reading = read_medium(tmp_path / "f")

        assert reading.problems == ()
        assert reading.studies[0].instance_count == 2

    def test_progress_reaches_the_total(self, disc: Path) -> None:
        seen: list[ReadProgress] = []

        read_medium(disc, progress=seen.append)

        assert seen[-1].files_done == seen[-1].files_total == len(seen)
        assert seen[-1].bytes_done == seen[-1].bytes_total
        assert [p.files_done for p in seen] == list(range(1, len(seen) + 1))

    def test_json_report(self, disc: Path) -> None:
        report = read_medium(disc).to_json()

        assert report["instance_count"] == 12
        assert report["problems"] == []
        assert {"studies", "files", "fileset_id", "byte_count"} <= report.keys()
        assert isinstance(report["studies"][0]["study_date"], str)


class TestBrokenMedia:
    def test_missing_file(self, disc: Path, studies: list[factory.StudySpec]) -> None:
        victim = image_files(disc)[0]
        file_id = victim.relative_to(disc).as_posix()
        victim.unlink()

        reading = read_medium(disc)

        assert codes(reading) == [ProblemCode.RECORD_WITHOUT_FILE]
        assert reading.problems[0].path == file_id
        assert reading.problems[0].severity is Severity.ERROR
        damaged = [s for s in reading.studies if s.missing_instance_count]
        assert len(damaged) == 1
        spec = next(s for s in studies if s.uid == damaged[0].study_instance_uid)
        assert damaged[0].instance_count == spec.instance_count - 1
        assert_no_patient_data(reading, studies)

    def test_every_file_of_a_study_missing(
        self, disc: Path, studies: list[factory.StudySpec]
    ) -> None:
        # The study is only known from the DICOMDIR; it must still be reported.
        reading = read_medium(disc)
        target = studies[1].uid
        for entry in reading.files:
            if entry.study_instance_uid == target:
                (disc / entry.path).unlink()

        broken = read_medium(disc)

        summary = next(s for s in broken.studies if s.study_instance_uid == target)
        assert summary.instance_count == 0
        assert summary.missing_instance_count == studies[1].instance_count
        assert summary.patient_id == studies[1].patient_id
        assert codes(broken).count(ProblemCode.RECORD_WITHOUT_FILE) == studies[1].instance_count

    def test_flipped_byte_reads_clean_but_changes_the_digest(self, disc: Path) -> None:
        before = read_medium(disc)
        victim = image_files(disc)[-1]
        data = bytearray(victim.read_bytes())
        data[-10] ^= 0x01
        victim.write_bytes(bytes(data))

        after = read_medium(disc)

        assert after.problems == ()
        changed = {f.path for f in after.files} - {f.path for f in before.files}
        assert changed == set()
        digests = {f.path: f.sha256 for f in before.files}
        assert [f.path for f in after.files if digests[f.path] != f.sha256] == [
            victim.relative_to(disc).as_posix()
        ]

    def test_extra_dicom_file(self, disc: Path, studies: list[factory.StudySpec]) -> None:
        extra = factory.instance(studies[0], studies[0].series[0], 99)
        extra.save_as(disc / "EXTRA001", enforce_file_format=True)

        reading = read_medium(disc)

        assert codes(reading) == [ProblemCode.FILE_WITHOUT_RECORD]
        assert reading.problems[0].path == "EXTRA001"
        summary = next(s for s in reading.studies if s.study_instance_uid == studies[0].uid)
        assert summary.instance_count == studies[0].instance_count + 1

    def test_truncated_dicomdir(self, disc: Path, studies: list[factory.StudySpec]) -> None:
        dicomdir = disc / "DICOMDIR"
        dicomdir.write_bytes(dicomdir.read_bytes()[: dicomdir.stat().st_size // 2])

        reading = read_medium(disc)

        assert codes(reading) == [ProblemCode.DICOMDIR_UNREADABLE]
        assert not reading.has_dicomdir
        # The files themselves are still read and summarised.
        assert reading.instance_count == sum(s.instance_count for s in studies)

    def test_non_dicom_junk(self, disc: Path, tmp_path: Path) -> None:
        (disc / "README.TXT").write_text("Viewer instructions\n")
        reading = read_medium(disc)
        assert codes(reading) == [ProblemCode.NOT_DICOM]
        # PDI media may carry a README or viewer: beside a DICOMDIR that is only noted.
        assert reading.problems[0].severity is Severity.INFO
        assert "README.TXT" in {f.path for f in reading.files}

        folder = tmp_path / "folder"
        factory.write_folder(folder, [factory.StudySpec("PID003", [factory.SeriesSpec("CT", 1)])])
        (folder / "junk.bin").write_bytes(os.urandom(4096))
        assert [(p.code, p.severity) for p in read_medium(folder).problems] == [
            (ProblemCode.NOT_DICOM, Severity.WARNING)
        ]

    def test_listed_file_replaced_by_junk(self, disc: Path) -> None:
        victim = image_files(disc)[0]
        victim.write_bytes(b"not an image" * 20)

        reading = read_medium(disc)

        assert [(p.code, p.severity) for p in reading.problems] == [
            (ProblemCode.NOT_DICOM, Severity.ERROR)
        ]
        assert sum(s.missing_instance_count for s in reading.studies) == 1

    def test_truncated_instance(self, disc: Path) -> None:
        victim = image_files(disc)[0]
        victim.write_bytes(victim.read_bytes()[:200])

        reading = read_medium(disc)

        assert codes(reading) == [ProblemCode.INVALID_DICOM]
        assert reading.problems[0].severity is Severity.ERROR

    def test_empty_study_id(self, tmp_path: Path, studies: list[factory.StudySpec]) -> None:
        studies[0].study_id = ""
        factory.write_folder(tmp_path / "f", studies)

        reading = read_medium(tmp_path / "f")

        assert codes(reading) == [ProblemCode.EMPTY_STUDY_ID]
        assert studies[0].uid in reading.problems[0].message
        assert_no_patient_data(reading, studies)

    def test_lower_case_names_with_iso9660_versions(self, disc: Path) -> None:
        original = read_medium(disc)
        for path in sorted(disc.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            name = path.name.lower() + (";1" if path.is_file() else "")
            path.rename(path.with_name(name))

        reading = read_medium(disc, label=LABEL)

        assert reading.problems == ()
        assert reading.files == original.files

    def test_swapped_files_do_not_match_their_records(self, disc: Path) -> None:
        first, second = image_files(disc)[:2]
        a, b = first.read_bytes(), second.read_bytes()
        first.write_bytes(b)
        second.write_bytes(a)

        reading = read_medium(disc)

        assert codes(reading) == [ProblemCode.RECORD_MISMATCH] * 2

    def test_duplicate_instance(self, tmp_path: Path) -> None:
        spec = factory.StudySpec("PID007", [factory.SeriesSpec("CT", 2)])
        paths = factory.write_folder(tmp_path / "f", [spec])
        shutil.copy(paths[0], paths[0].with_name("COPY.dcm"))

        reading = read_medium(tmp_path / "f")

        assert codes(reading) == [ProblemCode.DUPLICATE_INSTANCE]
        assert reading.instance_count == reading.studies[0].instance_count == 2

    def test_fileset_id_differs_from_label(self, disc: Path) -> None:
        reading = read_medium(disc, label="RAD0002")

        assert codes(reading) == [ProblemCode.FILESET_ID_MISMATCH]
        assert "RAD0002" in reading.problems[0].message

    def test_empty_folder(self, tmp_path: Path) -> None:
        reading = read_medium(tmp_path)

        assert codes(reading) == [ProblemCode.NO_INSTANCES]

    def test_not_a_folder(self, tmp_path: Path) -> None:
        with pytest.raises(InvalidInputError, match="not a folder"):
            read_medium(tmp_path / "nowhere")

    def test_names_differing_only_in_case(self, tmp_path: Path) -> None:
        spec = factory.StudySpec("PID004", [factory.SeriesSpec("CT", 1)])
        paths = factory.write_folder(tmp_path / "f", [spec])
        shutil.copy(paths[0], paths[0].with_name(paths[0].name.upper()))

        reading = read_medium(tmp_path / "f")

        assert codes(reading) == [ProblemCode.NAME_CLASH]

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(st.data())
    def test_damaged_dicomdir_never_crashes(
        self, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
    ) -> None:
        root = tmp_path_factory.mktemp("fuzz") / "disc"
        spec = factory.StudySpec("PID005", [factory.SeriesSpec("CT", 3)])
        factory.write_fileset(root, [spec], fileset_id=LABEL)
        dicomdir = bytearray((root / "DICOMDIR").read_bytes())
        for _ in range(data.draw(st.integers(1, 8))):
            # A position as a fraction: generated UIDs vary in length from run to run.
            at = data.draw(st.integers(0, 9999)) * len(dicomdir) // 10000
            dicomdir[at] = data.draw(st.integers(0, 255))
        (root / "DICOMDIR").write_bytes(bytes(dicomdir))

        reading = read_medium(root, label=LABEL)

        assert reading.instance_count == 3


class TestCanonicalFileId:
    @pytest.mark.parametrize(
        ("parts", "expected"),
        [
            (["pt000000", "im000001;1"], "PT000000/IM000001"),
            (["IM000001."], "IM000001"),
            (["IM000001.;1"], "IM000001"),
            (["Study", "img.dcm"], "STUDY/IMG.DCM"),
        ],
    )
    def test_forms(self, parts: list[str], expected: str) -> None:
        assert canonical_file_id(parts) == expected


class TestNoPatientDataInLogs:
    # The factory writes the bad values; pydicom warns while writing them.
    @pytest.mark.filterwarnings("ignore:Invalid value", "ignore:The value length")
    def test_invalid_values_are_not_logged(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        # LO allows 64 characters (PS3.5 6.2); pydicom would warn, quoting the value.
        patient_id = "PATIENTSECRET" + "X" * 70
        spec = factory.StudySpec(patient_id, [factory.SeriesSpec("CT", 1)], study_date="2024")
        factory.write_folder(tmp_path / "f", [spec])
        caplog.set_level("DEBUG")

        reading = read_medium(tmp_path / "f")

        assert reading.studies[0].patient_id == patient_id
        assert reading.studies[0].study_date is None
        assert "PATIENTSECRET" not in caplog.text


class TestDamagedInstances:
    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(st.data())
    def test_damaged_headers_never_crash(
        self, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
    ) -> None:
        root = tmp_path_factory.mktemp("fuzz")
        spec = factory.StudySpec("PID006", [factory.SeriesSpec("CT", 2)])
        victim = factory.write_folder(root, [spec])[0]
        content = bytearray(victim.read_bytes())
        # Damage the header only (after the preamble, before the pixels) where parsing happens.
        for _ in range(data.draw(st.integers(1, 6))):
            at = 132 + data.draw(st.integers(0, 399))
            content[at] = data.draw(st.integers(0, 255))
        victim.write_bytes(bytes(content))

        reading = read_medium(root)

        assert len(reading.files) == 2
        assert reading.instance_count >= 1


class TestDicomdirWorker:
    """A large DICOMDIR is parsed in a second process; it must change nothing but the time."""

    @pytest.fixture
    def worker_always(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from app.media import reading as module

        monkeypatch.setattr(module, "DICOMDIR_WORKER_BYTES", 0)

    def in_process(self, disc: Path, monkeypatch: pytest.MonkeyPatch) -> MediumReading:
        from app.media import reading as module

        with monkeypatch.context() as patch:
            patch.setattr(module, "DICOMDIR_WORKER_BYTES", 1 << 60)
            return read_medium(disc, label=LABEL)

    @pytest.mark.usefixtures("worker_always")
    def test_same_reading_as_in_process(
        self, disc: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        victim = image_files(disc)[0]
        victim.unlink()
        expected = self.in_process(disc, monkeypatch)

        reading = read_medium(disc, label=LABEL)

        assert reading == expected
        assert codes(reading) == [ProblemCode.RECORD_WITHOUT_FILE]
        assert multiprocessing.active_children() == []

    @pytest.mark.usefixtures("worker_always")
    def test_damaged_dicomdir_reported_from_the_worker(self, disc: Path) -> None:
        dicomdir = disc / "DICOMDIR"
        dicomdir.write_bytes(dicomdir.read_bytes()[: dicomdir.stat().st_size // 2])

        reading = read_medium(disc)

        assert codes(reading) == [ProblemCode.DICOMDIR_UNREADABLE]

    @pytest.mark.usefixtures("worker_always")
    @pytest.mark.parametrize("interrupt", [RuntimeError, KeyboardInterrupt])
    def test_worker_ends_when_the_read_fails(
        self, disc: Path, interrupt: type[BaseException], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from app.media import reading as module

        # A worker still busy with a huge DICOMDIR: it would never end by itself.
        monkeypatch.setattr(module, "_read_dicomdir", lambda path, problems: signal.pause())
        workers: list[multiprocessing.process.BaseProcess] = []

        def fail(progress: ReadProgress) -> None:
            workers.extend(multiprocessing.active_children())
            raise interrupt

        with pytest.raises(interrupt):
            read_medium(disc, progress=fail)

        assert [w.name for w in workers] == ["media-dicomdir"]
        assert multiprocessing.active_children() == []

    @pytest.mark.usefixtures("worker_always")
    @pytest.mark.parametrize("fate", ["ctrl-c", "death"])
    def test_worker_ignores_ctrl_c_and_a_dead_worker_is_replaced(
        self,
        disc: Path,
        fate: str,
        monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str],
    ) -> None:
        from app.media import reading as module

        expected = self.in_process(disc, monkeypatch)
        parent = os.getpid()
        parsed_here: list[Path] = []
        original = module._read_dicomdir

        def parse(path: Path, problems: list[ProblemCode]) -> object:
            if os.getpid() == parent:
                parsed_here.append(path)
            elif fate == "ctrl-c":
                # The terminal sends Ctrl-C to the whole process group, the worker included.
                os.kill(os.getpid(), signal.SIGINT)
            else:
                os._exit(1)  # killed, or out of memory
            return original(path, problems)  # type: ignore[arg-type]

        monkeypatch.setattr(module, "_read_dicomdir", parse)

        reading = read_medium(disc, label=LABEL)

        assert reading == expected
        # Ctrl-C: the worker carried on and answered. Death: this process parsed instead.
        assert len(parsed_here) == (1 if fate == "death" else 0)
        assert "KeyboardInterrupt" not in capfd.readouterr().err
        assert multiprocessing.active_children() == []

    @pytest.mark.usefixtures("worker_always")
    def test_no_process_to_spare(self, disc: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        expected = self.in_process(disc, monkeypatch)

        def refuse(process: object) -> None:
            raise BlockingIOError("Resource temporarily unavailable")

        monkeypatch.setattr(multiprocessing.get_context("fork").Process, "start", refuse)

        assert read_medium(disc, label=LABEL) == expected


class TestPrefetch:
    def test_advice_stays_within_the_window_and_covers_every_byte(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from app.media import reading as module

        window = 10
        monkeypatch.setattr(module, "PREFETCH_BYTES", window)
        advised: list[tuple[str, int, int]] = []
        monkeypatch.setattr(
            module, "_advise", lambda path, at, length: advised.append((path.name, at, length))
        )
        sizes = {"A": 4, "B": 25, "C": 0, "D": 3}
        prefetch = module.Prefetch([(Path(name), size) for name, size in sizes.items()])

        position = 0
        prefetch.read(0)
        for size in sizes.values():
            for _ in range(size):
                position += 1
                prefetch.read(1)
                assert sum(length for _, _, length in advised) <= position + window

        for name, size in sizes.items():
            ranges = sorted((o, n) for f, o, n in advised if f == name)
            assert sum(n for _, n in ranges) == size
            assert all(a + n == b for (a, n), (b, _) in zip(ranges, ranges[1:], strict=False))
