from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, col, func, select

from app.audit import service as audit_service
from app.core.errors import ConflictError, NotFoundError
from app.core.ids import id_of
from app.core.principal import Principal
from app.core.security import new_api_key
from app.core.time import utcnow
from app.locations import service as location_service
from app.stations.models import Station
from app.stations.schemas import StationCreate, StationPublic


def create(*, session: Session, station_in: StationCreate, by: Principal) -> tuple[Station, str]:
    """The new station and its API key, which is not kept and cannot be shown again."""
    if session.exec(select(Station.id).where(Station.name == station_in.name)).first():
        raise ConflictError("A station named {name} exists already.", name=station_in.name)
    place = location_service.get_by_code(session=session, code=station_in.location)
    key, prefix, key_hash = new_api_key()
    station = Station(
        name=station_in.name,
        kind=station_in.kind.value,
        location_id=id_of(place),
        key_prefix=prefix,
        key_hash=key_hash,
    )
    session.add(station)
    session.flush()
    audit_service.append(
        session,
        principal=by,
        action="admin_station_created",
        payload={
            "station_id": station.id,
            "name": station.name,
            "kind": station.kind,
            "location": station_in.location,
        },
    )
    return station, key


def get(*, session: Session, station_id: int) -> Station:
    station = session.get(Station, station_id)
    if station is None:
        raise NotFoundError("There is no station with that number.")
    return station


def get_by_name(*, session: Session, name: str) -> Station:
    station = session.exec(select(Station).where(Station.name == name)).one_or_none()
    if station is None:
        raise NotFoundError("There is no station with that name.")
    return station


def revoke(*, session: Session, name: str, by: Principal) -> Station:
    station = get_by_name(session=session, name=name)
    if station.revoked_at is not None:
        raise ConflictError("The key of station {name} is already revoked.", name=name)
    station.revoked_at = utcnow()
    session.add(station)
    session.flush()
    audit_service.append(
        session,
        principal=by,
        action="admin_station_revoked",
        payload={"station_id": station.id, "name": name},
    )
    return station


def rotate_key(
    *, session: Session, name: str, grace: timedelta, by: Principal
) -> tuple[Station, str]:
    """Give the station a new key; the current one keeps working for ``grace`` (zero: stops
    at once, for a key that leaked). A key from an earlier rotation stops now: only one old key
    is kept."""
    station = get_by_name(session=session, name=name)
    if station.revoked_at is not None:
        raise ConflictError(
            "The key of station {name} is revoked; register the station again instead.", name=name
        )
    key, prefix, key_hash = new_api_key()
    expires = utcnow() + grace
    station.previous_key_prefix, station.previous_key_hash = station.key_prefix, station.key_hash
    station.previous_key_expires_at = expires
    station.key_prefix, station.key_hash = prefix, key_hash
    session.add(station)
    session.flush()
    audit_service.append(
        session,
        principal=by,
        action="admin_station_key_rotated",
        payload={
            "station_id": station.id,
            "name": name,
            "old_key_valid_until": expires.isoformat(),
        },
    )
    return station, key


def list_all(*, session: Session, offset: int, limit: int) -> tuple[list[Station], int]:
    rows = session.exec(select(Station).order_by(col(Station.name)).offset(offset).limit(limit))
    return list(rows), session.exec(select(func.count()).select_from(Station)).one()


def to_public(*, session: Session, station: Station) -> StationPublic:
    place = location_service.get(session=session, location_id=station.location_id)
    old_key_until = station.previous_key_expires_at
    if old_key_until is not None and old_key_until <= utcnow():
        old_key_until = None
    return StationPublic(
        name=station.name,
        kind=station.kind,
        location=place.code,
        revoked=station.revoked_at is not None,
        last_seen_at=station.last_seen_at,
        last_seq=station.last_seq,
        clock_wrong=station.clock_wrong,
        old_key_valid_until=old_key_until,
    )
