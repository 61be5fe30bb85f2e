"""Test data built through the real services (so the custody log is real too)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import cache

from sqlalchemy import Engine

from app.borrowers import service as borrower_service
from app.borrowers.schemas import BorrowerCreate
from app.carriers import service as carrier_service
from app.carriers.schemas import CarrierCreate, CarrierKind
from app.core.config import Settings
from app.core.db import session_scope
from app.core.principal import STAFF_ROLES, SYSTEM, Role
from app.core.security import hash_password, issue_token
from app.core.time import local_today
from app.custody import schemas as custody_schemas
from app.custody import service as custody_service
from app.locations import service as location_service
from app.locations.schemas import LocationCreate, LocationKind
from app.stations import service as station_service
from app.stations.schemas import StationCreate
from app.studies import service as study_service
from app.studies.schemas import StudyIn
from app.tags import service as tag_service
from app.tags.schemas import TagBind
from app.users.models import User

PASSWORD = "correct horse battery staple"


def site_today(settings: Settings | None = None) -> date:
    """Today in the site's zone (MEDIATRACK_TIMEZONE), the day the app counts due dates in: a
    test that dates a loan from the UTC date is a day off between local midnight and 08:00."""
    return local_today((settings or Settings()).zone)


@cache
def _password_hash() -> str:
    return hash_password(PASSWORD)  # argon2 is slow on purpose: hash once per run


@dataclass
class World:
    tokens: dict[str, str]  # role -> bearer token
    station_key: str
    other_station_key: str
    borrower_id: int
    labels: list[str] = field(default_factory=list)

    def auth(self, role: str) -> dict[str, str]:
        if role == "station":
            return {"X-API-Key": self.station_key}
        if role == "anonymous":
            return {}
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def tag_uid(n: int) -> str:
    return f"04{n:010X}80"


def build_world(engine: Engine, settings: Settings, carriers: int = 3) -> World:
    L = LocationKind
    with session_scope(engine) as session:
        for code, name, kind, parent in [
            ("HOSP", "City Hospital", L.SITE, None),
            ("ARCH", "Archive", L.ROOM, "HOSP"),
            ("SHELF1", "Shelf 1", L.SHELF, "ARCH"),
            ("SHELF2", "Shelf 2", L.SHELF, "ARCH"),
            ("DESK", "Archive desk", L.DESK, "ARCH"),
            ("VAULT", "Offsite vault", L.VAULT, None),
        ]:
            location_service.create(
                session=session,
                location_in=LocationCreate(code=code, name=name, kind=kind, parent=parent),
                by=SYSTEM,
            )
        tokens = {}
        for role in STAFF_ROLES:
            user = User(
                username=role.value,
                display_name=role.value.title(),
                role=role.value,
                password_hash=_password_hash(),
            )
            session.add(user)
            session.flush()
            tokens[role.value] = issue_token(
                user_id=user.id or 0, role=role.value, secret=settings.secret_key, minutes=15
            )
        # A second admin: research loans need an approver other than the one lending.
        session.add(
            User(
                username="admin2",
                display_name="Admin Two",
                role=Role.ADMIN.value,
                password_hash=_password_hash(),
            )
        )
        borrower = borrower_service.create(
            session=session,
            borrower_in=BorrowerCreate(name="Dr Wang", department="Cardiology"),
            by=SYSTEM,
        )
        _, key = station_service.create(
            session=session, station_in=StationCreate(name="desk-1", location="DESK"), by=SYSTEM
        )
        _, other_key = station_service.create(
            session=session, station_in=StationCreate(name="desk-2", location="VAULT"), by=SYSTEM
        )
        world = World(
            tokens=tokens,
            station_key=key,
            other_station_key=other_key,
            borrower_id=borrower.id or 0,
        )
    for n in range(1, carriers + 1):
        world.labels.append(make_carrier(engine, f"RAD{n:07d}", uid=tag_uid(n), study=n))
    return world


def make_carrier(
    engine: Engine,
    label: str,
    *,
    kind: CarrierKind = CarrierKind.DVD,
    uid: str | None = None,
    study: int | None = None,
    store: bool = True,
) -> str:
    with session_scope(engine) as session:
        carrier_service.register(
            session=session,
            principal=SYSTEM,
            carrier_in=CarrierCreate(label=label, kind=kind, home_location="SHELF1"),
        )
        if uid:
            tag_service.bind(
                session=session, principal=SYSTEM, label=label, bind_in=TagBind(tag_uid=uid)
            )
        if study is not None:
            carrier = carrier_service.get_by_label(session=session, label=label)
            study_service.link(
                session=session,
                principal=SYSTEM,
                carrier=carrier,
                studies=[study_in(study)],
            )
        if store:
            custody_service.store(
                session=session,
                principal=SYSTEM,
                label=label,
                store_in=custody_schemas.Store(location="SHELF1"),
                today=site_today(),
            )
    return label


def study_in(n: int) -> StudyIn:
    return StudyIn(
        study_uid=f"1.2.826.0.1.3680043.10.99.{n}",
        accession_number=f"ACC{n:05d}",
        patient_id=f"ZZCANARY{n:04d}",
        issuer_of_patient_id="CITYHOSP",
        modalities=["CT"],
        series_count=2,
        instance_count=100 + n,
    )
