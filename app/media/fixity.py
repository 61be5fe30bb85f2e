"""Fixity: a re-read compared with the manifest (two carriers' copies are compared in
app/preservation/copies.py).

Pure functions over manifest lines; the service feeds them database rows or a fresh reading.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from app.media.reading import MediumReading, ProblemCode


class ManifestLine(Protocol):
    @property
    def path(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def sha256(self) -> str: ...


def manifest_digest(manifest: Iterable[ManifestLine]) -> str:
    """One SHA-256 naming the whole manifest: over "path<TAB>size<TAB>sha256<LF>" lines, sorted
    by path, so equal manifests give equal digests whatever order they were read in."""
    digest = hashlib.sha256()
    for line in sorted(manifest, key=lambda m: m.path):
        digest.update(f"{line.path}\t{line.size}\t{line.sha256}\n".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class FixityResult:
    checked: int
    missing: tuple[str, ...]
    changed: tuple[str, ...]
    extra: tuple[str, ...]
    unreadable: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not (self.missing or self.changed or self.extra or self.unreadable)

    def summary(self) -> str:
        """One sentence for the custody event and the clerk."""
        if self.ok:
            return f"All {self.checked} files match the manifest."
        parts = [
            f"{len(items)} {what}"
            for items, what in (
                (self.missing, "missing"),
                (self.changed, "changed"),
                (self.unreadable, "unreadable"),
                (self.extra, "not in the manifest"),
            )
            if items
        ]
        return f"Of {self.checked} files in the manifest: " + ", ".join(parts) + "."


def compare_manifest(manifest: Iterable[ManifestLine], reading: MediumReading) -> FixityResult:
    """Missing, changed (size or SHA-256), unreadable and extra files of a re-read medium."""
    expected = {line.path: line for line in manifest}
    found = {entry.path: entry for entry in reading.files}
    unreadable = reading.problem_paths(ProblemCode.UNREADABLE_FILE) & expected.keys()
    missing = expected.keys() - found.keys() - unreadable
    changed = {
        path
        for path, entry in found.items()
        if path in expected
        and (entry.size != expected[path].size or entry.sha256 != expected[path].sha256)
    }
    extra = found.keys() - expected.keys()
    return FixityResult(
        checked=len(expected),
        missing=tuple(sorted(missing)),
        changed=tuple(sorted(changed)),
        extra=tuple(sorted(extra)),
        unreadable=tuple(sorted(unreadable)),
    )
