from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, inspect
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session, col, func, select

from app.audit import service as audit_service
from app.carriers.models import Carrier
from app.core.errors import ConflictError, NotFoundError
from app.core.ids import id_of
from app.core.principal import Principal
from app.core.validation import normalise_uid
from app.locations.models import Location
from app.locations.schemas import LocationCreate, LocationPublic
from app.tags.models import Tag

PATH_SEPARATOR = " / "


def get_by_code(*, session: Session, code: str) -> Location:
    location = session.exec(select(Location).where(Location.code == code)).one_or_none()
    if location is None:
        raise NotFoundError("There is no location with that code.")
    return location


def get(*, session: Session, location_id: int) -> Location:
    location = session.get(Location, location_id)
    if location is None:
        raise NotFoundError("There is no location with that number.")
    return location


def get_many(*, session: Session, location_ids: Iterable[int]) -> dict[int, Location]:
    """Locations by id: those the session holds, the rest in one query (a list page's rows
    must not each ask for theirs, and a single carrier's snapshot no more than before)."""
    found: dict[int, Location] = {}
    for location_id in set(location_ids):
        held = session.identity_map.get(identity_key(Location, location_id))
        if isinstance(held, Location) and not inspect(held).expired_attributes:
            found[location_id] = held
    missing = set(location_ids) - found.keys()
    if missing:
        query = select(Location).where(col(Location.id).in_(missing))
        found |= {id_of(place): place for place in session.exec(query)}
    return found


def get_by_tag(*, session: Session, uid: str) -> Location | None:
    return session.exec(select(Location).where(Location.tag_uid == uid)).one_or_none()


# Built once: a scan runs it for the UIDs that are no carrier's.
_BY_TAGS = select(Location).where(col(Location.tag_uid).in_(bindparam("uids", expanding=True)))


def get_by_tags(*, session: Session, uids: list[str]) -> dict[str, Location]:
    if not uids:
        return {}
    found = session.exec(_BY_TAGS, params={"uids": uids})
    return {loc.tag_uid: loc for loc in found if loc.tag_uid}


def create(*, session: Session, location_in: LocationCreate, by: Principal) -> Location:
    if session.exec(select(Location.id).where(Location.code == location_in.code)).first():
        raise ConflictError("The location code {code} is already taken.", code=location_in.code)
    parent = get_by_code(session=session, code=location_in.parent) if location_in.parent else None
    uid = normalise_uid(location_in.tag_uid) if location_in.tag_uid else None
    if uid and get_by_tag(session=session, uid=uid):
        raise ConflictError("Tag {uid} already marks another location.", uid=uid)
    if uid:
        on_carrier = select(Carrier.label).join(Tag, col(Carrier.tag_id) == col(Tag.id))
        label = session.exec(on_carrier.where(Tag.uid == uid)).first()
        if label is not None:
            raise ConflictError(
                "Tag {uid} labels the carrier {label}, not a location.", uid=uid, label=label
            )
    location = Location(
        code=location_in.code,
        name=location_in.name,
        kind=location_in.kind.value,
        parent_id=parent.id if parent else None,
        path=f"{parent.path}{PATH_SEPARATOR}{location_in.name}" if parent else location_in.name,
        tag_uid=uid,
    )
    session.add(location)
    session.flush()
    audit_service.append(
        session,
        principal=by,
        action="admin_location_created",
        payload={
            "code": location.code,
            "kind": location.kind,
            "parent": location_in.parent,
            "tag_uid": location.tag_uid,
        },
        location_id=location.id,
    )
    return location


def children(*, session: Session, location_id: int) -> list[Location]:
    query = select(Location).where(Location.parent_id == location_id).order_by(col(Location.name))
    return list(session.exec(query))


def list_all(*, session: Session, offset: int, limit: int) -> tuple[list[Location], int]:
    query = select(Location).order_by(col(Location.path)).offset(offset).limit(limit)
    rows = list(session.exec(query))
    total = session.exec(select(func.count()).select_from(Location)).one()
    return rows, total


def to_public(*, session: Session, location: Location) -> LocationPublic:
    parent = session.get(Location, location.parent_id) if location.parent_id else None
    return LocationPublic(
        code=location.code,
        name=location.name,
        kind=location.kind,
        path=location.path,
        parent=parent.code if parent else None,
        tag_uid=location.tag_uid,
    )
