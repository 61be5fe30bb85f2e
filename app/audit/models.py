from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.core.types import UTCDateTime


class CustodyEvent(SQLModel, table=True):
    """One entry of the append-only custody log (database triggers refuse UPDATE/DELETE).

    ``hash`` = SHA-256(prev_hash || SHA-256(0x00 || canonical JSON of the entry)); see
    ``app.audit.chain`` and docs/custody-model.md. No foreign keys: the log stands alone.
    """

    __tablename__ = "custody_event"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    recorded_at: datetime = Field(sa_type=UTCDateTime)
    action: str = Field(max_length=32, index=True)
    actor_kind: str = Field(max_length=8)
    actor_id: int | None = None
    actor_role: str = Field(max_length=16)
    station_id: int | None = None
    carrier_id: int | None = Field(default=None, index=True)
    location_id: int | None = None
    payload: str
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class LogHead(SQLModel, table=True):
    """The single row every append locks first: it serialises writers on PostgreSQL."""

    __tablename__ = "log_head"

    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    seq: int = 0
    hash: str = Field(max_length=64)


class Checkpoint(SQLModel, table=True):
    """A signed statement "the log had ``size`` entries ending in ``head_hash``"."""

    __tablename__ = "log_checkpoint"

    id: int | None = Field(default=None, primary_key=True)
    size: int
    head_hash: str = Field(max_length=64)
    signed_at: datetime = Field(sa_type=UTCDateTime)
    key_id: str = Field(max_length=64)
    signature: str = Field(max_length=128)
