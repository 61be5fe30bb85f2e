"""The one permission table. Every route names exactly one permission from it."""

from __future__ import annotations

from app.core.principal import Role

C, N, A, D, S = Role.CLERK, Role.CLINICIAN, Role.AUDITOR, Role.ADMIN, Role.STATION

PERMISSIONS: dict[str, frozenset[Role]] = {
    # reading what the archive holds
    "carriers.read": frozenset({C, N, A, D, S}),
    "locations.read": frozenset({C, N, A, D, S}),
    "borrowers.read": frozenset({C, A, D}),
    "studies.read": frozenset({C, N, A, D}),
    "lookup": frozenset({C, N, A, D}),
    "custody.overdue": frozenset({C, A, D}),
    # changing it
    "carriers.register": frozenset({C, D}),
    "tags.bind": frozenset({C, D, S}),
    "custody.checkout": frozenset({C, D}),
    "custody.return": frozenset({C, D}),
    "custody.transfer": frozenset({C, D}),
    "custody.store": frozenset({C, D}),
    "custody.missing": frozenset({C, D}),
    "custody.hold": frozenset({D}),
    "custody.retire": frozenset({D}),
    "borrowers.write": frozenset({C, D}),
    "scans.ingest": frozenset({S}),
    "stations.self": frozenset({S}),
    # what the carriers hold: intake and fixity also from a station that reads discs
    "media.intake": frozenset({C, D, S}),
    "media.verify": frozenset({C, D, S}),
    "pacs.check": frozenset({C, D}),
    "preservation.read": frozenset({C, A, D}),
    "preservation.manage": frozenset({C, D}),
    "preservation.destroy": frozenset({D}),
    # administration
    "locations.write": frozenset({D}),
    "users.manage": frozenset({D}),
    "stations.manage": frozenset({D}),
    # the log itself: auditors only
    "audit.read": frozenset({A}),
    "audit.verify": frozenset({A}),
    "audit.checkpoint": frozenset({A}),
    "audit.export": frozenset({A}),
}


def allowed(permission: str, role: Role) -> bool:
    return role in PERMISSIONS[permission]
