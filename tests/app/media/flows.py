"""Intake, verification and custody steps run through the real services, for database tests."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import Engine

from app.carriers.schemas import CarrierKind
from app.core.db import session_scope
from app.core.principal import SYSTEM
from app.custody import schemas as custody_schemas
from app.custody import service as custody_service
from app.media import service as media_service
from app.media.reading import read_medium
from tests.app.media import factory
from tests.factories import site_today


def make_disc(root: Path, studies: list[factory.StudySpec], label: str) -> Path:
    factory.write_fileset(root, studies, fileset_id=label)
    shutil.rmtree(root.parent / f"{root.name}-staging")
    return root


def import_disc(engine: Engine, label: str, root: Path, *, store: bool = True) -> None:
    """Read ``root`` and record it under ``label`` (registered at SHELF1 if new), in storage."""
    reading = read_medium(root, label=label)
    with session_scope(engine) as session:
        media_service.import_medium(
            session=session,
            principal=SYSTEM,
            label=label,
            reading=reading,
            register=media_service.Registration(kind=CarrierKind.DVD, home_location="SHELF1"),
        )
    if store:
        with session_scope(engine) as session:
            custody_service.store(
                session=session,
                principal=SYSTEM,
                label=label,
                store_in=custody_schemas.Store(location="SHELF1"),
                today=site_today(),
            )


def verify_disc(engine: Engine, label: str, root: Path) -> bool:
    reading = read_medium(root, label=label)
    with session_scope(engine) as session:
        _, result = media_service.verify_medium(
            session=session, principal=SYSTEM, label=label, reading=reading
        )
    return result.ok


def flip_byte(path: Path, at: int = -1) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def images(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("IM*") if p.is_file())
