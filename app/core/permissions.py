"""The one permission table. Every route names exactly one permission from it."""

from __future__ import annotations

from app.core.principal import Role

PERMISSIONS: dict[str, frozenset[Role]] = {
    # reading what the archive holds
    "carriers.read": frozenset(
        {Role.CLERK, Role.CLINICIAN, Role.AUDITOR, Role.ADMIN, Role.STATION}
    ),
    "locations.read": frozenset(
        {Role.CLERK, Role.CLINICIAN, Role.AUDITOR, Role.ADMIN, Role.STATION}
    ),
    "borrowers.read": frozenset({Role.CLERK, Role.AUDITOR, Role.ADMIN}),
    "studies.read": frozenset({Role.CLERK, Role.CLINICIAN, Role.AUDITOR, Role.ADMIN}),
    "lookup": frozenset({Role.CLERK, Role.CLINICIAN, Role.AUDITOR, Role.ADMIN}),
    "custody.overdue": frozenset({Role.CLERK, Role.AUDITOR, Role.ADMIN}),
    # changing it
    "carriers.register": frozenset({Role.CLERK, Role.ADMIN}),
    "tags.bind": frozenset({Role.CLERK, Role.ADMIN, Role.STATION}),
    "custody.checkout": frozenset({Role.CLERK, Role.ADMIN}),
    "custody.return": frozenset({Role.CLERK, Role.ADMIN}),
    "custody.transfer": frozenset({Role.CLERK, Role.ADMIN}),
    "custody.store": frozenset({Role.CLERK, Role.ADMIN}),
    "custody.missing": frozenset({Role.CLERK, Role.ADMIN}),
    "custody.hold": frozenset({Role.ADMIN}),
    "custody.retire": frozenset({Role.ADMIN}),
    "borrowers.write": frozenset({Role.CLERK, Role.ADMIN}),
    "scans.ingest": frozenset({Role.STATION}),
    "stations.self": frozenset({Role.STATION}),
    # what the carriers hold: intake and fixity also from a station that reads discs
    "media.intake": frozenset({Role.CLERK, Role.ADMIN, Role.STATION}),
    "media.verify": frozenset({Role.CLERK, Role.ADMIN, Role.STATION}),
    "pacs.check": frozenset({Role.CLERK, Role.ADMIN}),
    "preservation.read": frozenset({Role.CLERK, Role.AUDITOR, Role.ADMIN}),
    "preservation.manage": frozenset({Role.CLERK, Role.ADMIN}),
    "preservation.destroy": frozenset({Role.ADMIN}),
    # asking for a carrier, and fetching it for whoever asked
    "requests.create": frozenset({Role.CLERK, Role.CLINICIAN, Role.ADMIN}),
    "requests.fulfil": frozenset({Role.CLERK, Role.ADMIN}),
    # inventory: campaigns and their reports, sweeping shelves (a person or a handheld station)
    "inventory.read": frozenset({Role.CLERK, Role.AUDITOR, Role.ADMIN}),
    "inventory.manage": frozenset({Role.CLERK, Role.ADMIN}),
    "inventory.sweep": frozenset({Role.CLERK, Role.ADMIN, Role.STATION}),
    # administration
    "locations.write": frozenset({Role.ADMIN}),
    "users.manage": frozenset({Role.ADMIN}),
    "stations.manage": frozenset({Role.ADMIN}),
    # the log itself: auditors only
    "audit.read": frozenset({Role.AUDITOR}),
    "audit.verify": frozenset({Role.AUDITOR}),
    "audit.checkpoint": frozenset({Role.AUDITOR}),
    "audit.export": frozenset({Role.AUDITOR}),
}


def allowed(permission: str, role: Role) -> bool:
    return role in PERMISSIONS[permission]
