"""A realistic demo archive, built through the same services a clerk uses, so every change
is in the custody log. Deterministic (fixed seed)."""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from sqlmodel import Session, select

from app.borrowers import service as borrower_service
from app.borrowers.models import Borrower
from app.borrowers.schemas import BorrowerCreate, BorrowerKind
from app.carriers import service as carrier_service
from app.carriers.schemas import CarrierCreate, CarrierKind
from app.core.config import Settings, read_or_create
from app.core.errors import ConflictError
from app.core.ids import id_of
from app.core.principal import SYSTEM, Role
from app.core.time import local_today
from app.core.validation import Technology
from app.custody import schemas as custody_schemas
from app.custody import service as custody_service
from app.locations import service as location_service
from app.locations.models import Location
from app.locations.schemas import LocationCreate, LocationKind
from app.stations import service as station_service
from app.stations.schemas import StationCreate
from app.studies import service as study_service
from app.studies.schemas import EncounterClass, StudyIn
from app.tags import service as tag_service
from app.tags.schemas import TagBind
from app.users import service as user_service
from app.users.schemas import UserCreate

DEMO_PASSWORD = "demo-password-1"
K = LocationKind
LOCATIONS = [
    ("HOSP", "City Hospital", K.SITE, None),
    ("MAIN", "Main Building", K.BUILDING, "HOSP"),
    ("ARCH", "Radiology Archive B1", K.ROOM, "MAIN"),
    ("DESK1", "Archive desk", K.DESK, "ARCH"),
    ("EAST", "East Annex", K.BUILDING, "HOSP"),
    ("EAST_RAD", "Radiology reading room", K.ROOM, "EAST"),
    ("EAST_CAB", "Cabinet E1", K.CABINET, "EAST_RAD"),
    ("VAULT", "Offsite Vault", K.SITE, None),
    ("VAULT_R1", "Vault room 1", K.VAULT, "VAULT"),
    ("VAULT_TAPE", "Tape rack T1", K.CABINET, "VAULT_R1"),
    ("COURIER", "Hospital courier", K.COURIER, None),
]
KINDS = (
    [CarrierKind.DVD] * 120
    + [CarrierKind.CD] * 80
    + [CarrierKind.BD] * 40
    + [CarrierKind.M_DISC] * 20
    + [k for k in CarrierKind if k.is_tape for _ in range(8)]
)
MODALITIES = ["CT", "MR", "CR", "DX", "US", "MG", "NM", "PT", "XA", "RF"]
BORROWERS = [
    ("Dr Wang", "Cardiology", BorrowerKind.STAFF),
    ("Dr Li", "Oncology", BorrowerKind.STAFF),
    ("Dr Chen", "Neurology", BorrowerKind.STAFF),
    ("Dr Zhao", "Orthopaedics", BorrowerKind.STAFF),
    ("Surgery department", "Surgery", BorrowerKind.DEPARTMENT),
    ("District court", None, BorrowerKind.EXTERNAL),
]


def load(*, session: Session, settings: Settings, echo: Callable[[str], object]) -> None:
    if session.exec(select(Location.id).where(Location.code == "HOSP")).first():
        raise ConflictError("The demo archive is loaded already (use --reset to start over).")
    rng = random.Random(20261128)
    shelves = _add_locations(session)
    echo(f"{len(LOCATIONS) + len(shelves) + 4} locations")
    _add_staff(session)
    borrowers = _add_borrowers(session)
    key_file = _add_station(session, settings)
    # Due and expected dates are days in the site's zone, as the pages count them.
    today = local_today(settings.zone)
    labels = _add_carriers(session, rng=rng, shelves=shelves, today=today, echo=echo)
    _add_custody_events(
        session, settings=settings, today=today, labels=labels, borrowers=borrowers, echo=echo
    )
    echo(f"Staff log-ins: admin, clerk, clinician, auditor; password {DEMO_PASSWORD!r}")
    echo(f"Station archive-desk-1 at DESK1; its API key is in {key_file}")
    echo(f"Tag labels are signed with the site key in {_site_keys(settings)}")


def _site_keys(settings: Settings) -> Path:
    """The site key file (one random key, id 1), so the desk can have tags labelled and the
    phone page checks what it reads; kept across ``--reset``, as labels written with it are."""
    path = settings.SITE_KEYS_FILE or settings.DATA_DIR / "site.keys"
    # readers.carrier_label.parse_keys: "<key id> <hex key>", at least 16 bytes; 32 here.
    read_or_create(path, lambda: f"1 {secrets.token_hex(32)}\n".encode())
    return path


def _add_locations(session: Session) -> list[str]:
    """The fixed places, then four archive cabinets of five tagged shelves; the shelf codes."""
    for code, name, place_kind, parent in LOCATIONS:
        location_service.create(
            session=session,
            location_in=LocationCreate(code=code, name=name, kind=place_kind, parent=parent),
            by=SYSTEM,
        )
    shelves = []
    for cab in range(1, 5):
        cabinet = f"CAB{cab:02d}"
        location_service.create(
            session=session,
            location_in=LocationCreate(
                code=cabinet, name=f"Cabinet {cab}", kind=K.CABINET, parent="ARCH"
            ),
            by=SYSTEM,
        )
        for shelf in range(1, 6):
            code = f"{cabinet}_S{shelf}"
            shelves.append(code)
            location_service.create(
                session=session,
                location_in=LocationCreate(
                    code=code,
                    name=f"Shelf {shelf}",
                    kind=K.SHELF,
                    parent=cabinet,
                    # A shelf tag (NTAG213 7-byte UID, NXP manufacturer byte 0x04).
                    tag_uid=f"04AA{cab:02X}{shelf:02X}0000{cab:02X}",
                ),
                by=SYSTEM,
            )
    return shelves


def _add_staff(session: Session) -> None:
    for username, role in [
        ("admin", Role.ADMIN),
        ("clerk", Role.CLERK),
        ("clinician", Role.CLINICIAN),
        ("auditor", Role.AUDITOR),
        ("admin2", Role.ADMIN),
    ]:
        user_service.create(
            session=session,
            user_in=UserCreate(
                username=username, display_name=username.title(), role=role, password=DEMO_PASSWORD
            ),
            by=SYSTEM,
        )


def _add_borrowers(session: Session) -> list[Borrower]:
    return [
        borrower_service.create(
            session=session, borrower_in=BorrowerCreate(name=n, department=d, kind=k), by=SYSTEM
        )
        for n, d, k in BORROWERS
    ]


def _add_station(session: Session, settings: Settings) -> Path:
    """The archive desk's station; its API key goes to a file only its owner can read."""
    station, key = station_service.create(
        session=session,
        station_in=StationCreate(name="archive-desk-1", location="DESK1"),
        by=SYSTEM,
    )
    key_file = settings.DATA_DIR / f"station-{station.name}.key"
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.touch(mode=0o600)
    key_file.write_text(key + "\n")
    return key_file


def _add_carriers(
    session: Session,
    *,
    rng: random.Random,
    shelves: list[str],
    today: date,
    echo: Callable[[str], object],
) -> list[str]:
    """Each carrier of KINDS registered, tagged, given its studies and stored; their labels."""
    studies: list[StudyIn] = []
    labels = []
    for number, kind in enumerate(KINDS, start=1):
        label = f"RAD{number:07d}" if not kind.is_tape else f"TAPE{number:04d}"
        labels.append(label)
        home = "VAULT_TAPE" if kind.is_tape else rng.choice(shelves)
        _register_carrier(session, number=number, label=label, kind=kind, home=home)
        _bind_tag(session, number=number, label=label, kind=kind)
        count = rng.randint(20, 40) if kind.is_tape else rng.randint(1, 3)
        on_carrier = _studies_for(rng, count=count, studies=studies)
        carrier = carrier_service.get_by_label(session=session, label=label)
        unique = list({s.study_uid: s for s in on_carrier}.values())
        study_service.link(session=session, principal=SYSTEM, carrier=carrier, studies=unique)
        custody_service.store(
            session=session,
            principal=SYSTEM,
            label=label,
            store_in=custody_schemas.Store(location=home),
            today=today,
        )
        if number % 50 == 0:
            echo(f"{number} of {len(KINDS)} carriers")
    echo(f"{len(KINDS)} carriers, {len(studies)} studies")
    return labels


def _register_carrier(
    session: Session, *, number: int, label: str, kind: CarrierKind, home: str
) -> None:
    """Among the DVDs and CDs, every 25th carrier and the two after it are a set of 3 (keyed
    SET0025 and so on); tapes are encrypted and LTO-5+ barcoded."""
    tape = kind.is_tape
    part = number % 25 + 1 if 25 <= number < 200 and number % 25 < 3 else None
    set_key = f"SET{number - number % 25:04d}" if part else None
    carrier_service.register(
        session=session,
        principal=SYSTEM,
        carrier_in=CarrierCreate(
            label=label,
            kind=kind,
            home_location=home,
            set_number=part,
            set_total=3 if part else None,
            set_key=set_key,
            encrypted=tape,
            lto_barcode=f"RA{number:04d}L{kind.value[-1]}"
            if tape and kind.value[-1] in "56789"
            else None,
        ),
    )


def _bind_tag(session: Session, *, number: int, label: str, kind: CarrierKind) -> None:
    """An NTAG215 on most carriers; every 7th disc has an ICODE SLIX hub tag instead."""
    hub_tag = not kind.is_tape and number % 7 == 0
    uid = (
        f"E004{number:012X}"  # ISO 15693 UID: E0, manufacturer 04 (NXP), serial
        if hub_tag
        else f"04{number:010X}80"  # NTAG21x 7-byte UID, manufacturer 04 (NXP)
    )
    tag_service.bind(
        session=session,
        principal=SYSTEM,
        label=label,
        bind_in=TagBind(
            tag_uid=uid,
            technology=Technology.ISO15693 if hub_tag else Technology.ISO14443A,
            tag_type="ICODE SLIX" if hub_tag else "NTAG215",
        ),
    )


def _studies_for(rng: random.Random, *, count: int, studies: list[StudyIn]) -> list[StudyIn]:
    """The studies on one carrier: mostly new ones (appended to ``studies``), some copies."""
    on_carrier = []
    for _ in range(count):
        # Every tenth study also sits on an earlier carrier (a copy).
        if studies and rng.random() < 0.1:
            on_carrier.append(rng.choice(studies))
            continue
        n = len(studies) + 1
        study = StudyIn(
            study_uid=f"1.2.826.0.1.3680043.10.1234.{n}",
            accession_number=f"A{2015000 + n}",
            patient_id=f"P{100000 + rng.randint(1, 900)}",
            issuer_of_patient_id="CITYHOSP",
            study_date=date(2012, 1, 1) + timedelta(days=rng.randint(0, 4700)),
            modalities=rng.sample(MODALITIES, rng.randint(1, 2)),
            series_count=rng.randint(1, 8),
            instance_count=rng.randint(20, 900),
            encounter_class=rng.choice(list(EncounterClass)),
        )
        studies.append(study)
        on_carrier.append(study)
    return on_carrier


def _add_custody_events(
    session: Session,
    *,
    settings: Settings,
    today: date,
    labels: list[str],
    borrowers: list[Borrower],
    echo: Callable[[str], object],
) -> None:
    """Eight open loans (one overdue), one carrier in transit, one missing, one on hold."""
    lent = labels[3:11]
    for i, label in enumerate(lent):
        custody_service.check_out(
            session=session,
            principal=SYSTEM,
            label=label,
            checkout_in=custody_schemas.CheckOut(
                borrower_id=id_of(borrowers[i % 5]),
                purpose="TREAT" if i % 3 else "PATRQT",
                # The first one is overdue (back-filled from the paper ledger).
                due_on=today - timedelta(days=4) if i == 0 else today + timedelta(days=3 + i),
            ),
            settings=settings,
            today=today,
        )
    transfer = custody_service.dispatch(
        session=session,
        principal=SYSTEM,
        dispatch_in=custody_schemas.Dispatch(
            labels=[labels[20]],
            to_location="EAST_CAB",
            seal_number="SEAL-2026-0117",
            expected_on=today + timedelta(days=1),
        ),
        today=today,
    )
    custody_service.report_missing(
        session=session,
        principal=SYSTEM,
        label=labels[30],
        missing_in=custody_schemas.Missing(note="not on its shelf at the autumn inventory"),
        today=today,
    )
    custody_service.set_hold(
        session=session,
        principal=SYSTEM,
        label=labels[40],
        reason="litigation hold requested by the legal office",
        hold=True,
        today=today,
    )
    echo(
        f"{len(lent)} open loans ({lent[0]} overdue), {labels[20]} in transit "
        f"(transfer {transfer.id}), {labels[30]} missing, {labels[40]} under legal hold"
    )
