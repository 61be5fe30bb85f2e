"""Each carrier's manifest, and the results of reading (intake) and re-reading (fixity) it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.core.types import UTCDateTime


class ManifestEntry(SQLModel, table=True):
    """One file on a carrier, by canonical File ID, as read at intake."""

    __tablename__ = "manifest_entry"
    __table_args__ = (UniqueConstraint("carrier_id", "path", name="uq_manifest_entry_path"),)

    id: int | None = Field(default=None, primary_key=True)
    carrier_id: int = Field(foreign_key="carrier.id")
    # A File ID has at most 8 components of 8 characters (PS3.10 8.5); folders may be longer.
    path: str = Field(max_length=255)
    size: int = Field(sa_type=BigInteger)
    sha256: str = Field(max_length=64)
    sop_instance_uid: str | None = Field(default=None, max_length=64, index=True)
    sop_class_uid: str | None = Field(default=None, max_length=64)
    transfer_syntax_uid: str | None = Field(default=None, max_length=64)
    study_instance_uid: str | None = Field(default=None, max_length=64, index=True)


class MediaIntake(SQLModel, table=True):
    """A reading of a carrier that (re)built its manifest."""

    __tablename__ = "media_intake"

    id: int | None = Field(default=None, primary_key=True)
    carrier_id: int = Field(foreign_key="carrier.id", index=True)
    read_at: datetime = Field(sa_type=UTCDateTime)
    fileset_id: str | None = Field(default=None, max_length=16)
    fileset_uid: str | None = Field(default=None, max_length=64)
    file_count: int
    instance_count: int
    byte_count: int = Field(sa_type=BigInteger)
    # SHA-256 over the sorted manifest lines: one value that names the whole manifest.
    manifest_sha256: str = Field(max_length=64)
    problem_count: int
    # JSON list of {code, severity, message, path}; never patient data.
    problems: str
    event_seq: int


class FixityCheck(SQLModel, table=True):
    """A re-read of a carrier compared with its manifest (PREMIS "fixity check")."""

    __tablename__ = "fixity_check"

    id: int | None = Field(default=None, primary_key=True)
    carrier_id: int = Field(foreign_key="carrier.id", index=True)
    checked_at: datetime = Field(sa_type=UTCDateTime)
    ok: bool
    checked: int
    missing: int
    changed: int
    extra: int
    unreadable: int
    # JSON {missing: [...], changed: [...], extra: [...], unreadable: [...]} of File IDs.
    detail: str
    event_seq: int
