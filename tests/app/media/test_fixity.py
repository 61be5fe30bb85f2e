from __future__ import annotations

from pathlib import Path

import pytest

from app.media.fixity import compare_manifest
from app.media.reading import read_medium
from tests.app.media import factory


@pytest.fixture
def disc(tmp_path: Path) -> Path:
    root = tmp_path / "disc"
    factory.write_fileset(root, factory.mixed_studies(), fileset_id="RAD0001")
    return root


def flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


class TestCompareManifest:
    def test_unchanged_medium_matches(self, disc: Path) -> None:
        manifest = read_medium(disc).files

        result = compare_manifest(manifest, read_medium(disc))

        assert result.ok
        assert result.checked == len(manifest)
        assert result.summary() == f"All {len(manifest)} files match the manifest."

    def test_missing_changed_and_extra(self, disc: Path) -> None:
        manifest = read_medium(disc).files
        images = sorted(p for p in disc.rglob("IM*") if p.is_file())
        images[0].unlink()
        flip_last_byte(images[1])
        (disc / "EXTRA.TXT").write_text("added later")

        result = compare_manifest(manifest, read_medium(disc))

        rel = [p.relative_to(disc).as_posix() for p in images[:2]]
        assert result.missing == (rel[0],)
        assert result.changed == (rel[1],)
        assert result.extra == ("EXTRA.TXT",)
        assert result.unreadable == ()
        assert not result.ok
        assert result.summary() == (
            f"Of {len(manifest)} files in the manifest: 1 missing, 1 changed, "
            "1 not in the manifest."
        )

    def test_remount_in_lower_case_still_matches(self, disc: Path) -> None:
        manifest = read_medium(disc).files
        for path in sorted(disc.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            path.rename(path.with_name(path.name.lower()))

        assert compare_manifest(manifest, read_medium(disc)).ok
