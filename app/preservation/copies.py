"""Whether a successor is a faithful copy: two carriers' manifests compared study by study.

A pure function over manifest lines; migration feeds it database rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


class InstanceLine(Protocol):
    @property
    def study_instance_uid(self) -> str | None: ...
    @property
    def sop_instance_uid(self) -> str | None: ...
    @property
    def sha256(self) -> str: ...


@dataclass(frozen=True)
class CopyDifference:
    """How a study's instances on a copy differ from the original (by SOP Instance UID)."""

    study_instance_uid: str
    missing: tuple[str, ...]
    changed: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not (self.missing or self.changed)


def compare_copies(
    source: Iterable[InstanceLine], target: Iterable[InstanceLine], study_uids: Iterable[str]
) -> list[CopyDifference]:
    """Per study, the instances of ``source`` that ``target`` lacks or holds with other bytes.

    Instances are matched by SOP Instance UID, not path: a copy may lay files out anew, but
    a faithful copy keeps every instance's bytes and so its SHA-256.
    """
    wanted = set(study_uids)

    def index(lines: Iterable[InstanceLine]) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {uid: {} for uid in wanted}
        for line in lines:
            if line.study_instance_uid in wanted and line.sop_instance_uid is not None:
                out[line.study_instance_uid][line.sop_instance_uid] = line.sha256
        return out

    src, dst = index(source), index(target)
    return [
        CopyDifference(
            study_instance_uid=uid,
            missing=tuple(sorted(src[uid].keys() - dst[uid].keys())),
            changed=tuple(
                sorted(sop for sop, sha in src[uid].items() if dst[uid].get(sop, sha) != sha)
            ),
        )
        for uid in sorted(wanted)
    ]
