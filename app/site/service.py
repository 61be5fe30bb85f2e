"""The site's name and purposes of use: the value an administrator stored, else the setting."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from app.audit import service as audit_service
from app.core.config import Settings
from app.core.errors import InvalidInputError
from app.core.principal import Principal
from app.core.time import utcnow
from app.site.models import SiteSetting
from app.site.schemas import SiteUpdate

SITE_NAME, PURPOSES, APPROVAL_PURPOSES = "site_name", "purposes", "approval_purposes"


@dataclass(frozen=True)
class Site:
    name: str
    purposes: tuple[str, ...]
    approval_purposes: tuple[str, ...]


def current(*, session: Session, settings: Settings) -> Site:
    """What the site is called and which purposes of use it allows, as of now."""
    stored = {row.key: row.value for row in session.exec(select(SiteSetting))}

    def codes(key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(c for c in stored[key].split(",") if c) if key in stored else default

    return Site(
        name=stored.get(SITE_NAME, settings.SITE_NAME),
        purposes=codes(PURPOSES, settings.PURPOSES),
        approval_purposes=codes(APPROVAL_PURPOSES, settings.APPROVAL_PURPOSES),
    )


def require_purpose(site: Site, purpose: str) -> None:
    """Refuse (422) a purpose of use the site does not list."""
    if purpose not in site.purposes:
        raise InvalidInputError(
            "{purpose} is not a purpose of use here; choose one of {purposes}.",
            purpose=purpose, purposes=", ".join(site.purposes),
        )


def update(*, session: Session, site_in: SiteUpdate, by: Principal) -> Site:
    values = {
        SITE_NAME: site_in.site_name,
        PURPOSES: ",".join(site_in.purposes),
        APPROVAL_PURPOSES: ",".join(site_in.approval_purposes),
    }
    for key, value in values.items():
        row = session.get(SiteSetting, key) or SiteSetting(key=key, value=value)
        row.value, row.updated_at = value, utcnow()
        session.add(row)
    session.flush()
    audit_service.append(
        session,
        principal=by,
        action="admin_site_changed",
        payload={
            "site_name": site_in.site_name,
            "purposes": list(site_in.purposes),
            "approval_purposes": list(site_in.approval_purposes),
        },
    )
    return Site(site_in.site_name, tuple(site_in.purposes), tuple(site_in.approval_purposes))
