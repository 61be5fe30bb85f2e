"""Whether a successor is a faithful copy (app/preservation/copies.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.media.reading import read_medium
from app.preservation.copies import compare_copies
from tests.app.media import factory
from tests.app.media.flows import flip_byte


@pytest.fixture
def disc(tmp_path: Path) -> Path:
    root = tmp_path / "disc"
    factory.write_fileset(root, factory.mixed_studies(), fileset_id="RAD0001")
    return root


class TestCompareCopies:
    def test_copy_with_new_layout_matches_then_corruption_is_found(
        self, tmp_path: Path, disc: Path
    ) -> None:
        # The copy is a folder of the same files under other names (say an LTFS tape).
        copy = tmp_path / "copy"
        copy.mkdir()
        source = read_medium(disc)
        for n, entry in enumerate(f for f in source.files if f.sop_instance_uid):
            (copy / f"F{n:04d}.DCM").write_bytes((disc / entry.path).read_bytes())
        studies = [s.study_instance_uid for s in source.studies]

        assert all(d.ok for d in compare_copies(source.files, read_medium(copy).files, studies))

        victim = sorted(copy.iterdir())[0]
        flip_byte(victim)
        (copy / "F0001.DCM").unlink()
        diffs = {
            d.study_instance_uid: d
            for d in compare_copies(source.files, read_medium(copy).files, studies)
        }

        bad = [d for d in diffs.values() if not d.ok]
        assert sum(len(d.changed) for d in bad) == 1
        assert sum(len(d.missing) for d in bad) == 1

    def test_only_the_named_studies_count(self, disc: Path) -> None:
        source = read_medium(disc)
        wanted = source.studies[0].study_instance_uid
        partial = [f for f in source.files if f.study_instance_uid == wanted]

        assert [d.ok for d in compare_copies(source.files, partial, [wanted])] == [True]
