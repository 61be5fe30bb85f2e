"""Settings, read from the environment (prefix ``MEDIATRACK_``) by pydantic-settings."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Purpose-of-use codes after HL7 v3 PurposeOfUse. Research needs an approver.
DEFAULT_PURPOSES = ("TREAT", "ETREAT", "PATRQT", "HLEGAL", "HOPERAT", "HRESCH")
DEFAULT_APPROVAL_PURPOSES = ("HRESCH",)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDIATRACK_", extra="ignore")

    DATA_DIR: Path = Path("data")
    # Empty means the embedded SQLite file under DATA_DIR.
    DATABASE_URL: str = ""
    # Secret for login tokens; empty on the embedded default means "generate once and keep
    # in DATA_DIR/secret.key". A configured secret must be at least 32 characters.
    SECRET_KEY: str = ""
    # Ed25519 key signing log checkpoints (PEM). Empty: DATA_DIR/checkpoint-signing.pem.
    SIGNING_KEY_FILE: Path | None = None
    # The site keys tag labels are signed with (lines of "<key id> <hex key>", as the station
    # agent's --site-keys): the server checks a label a phone read and signs the labels its
    # stations write. Empty: DATA_DIR/site.keys if it exists (the demo writes one), else none.
    SITE_KEYS_FILE: Path | None = None
    SITE_NAME: str = "MediaTrack"
    PUBLIC_URL: str = "http://127.0.0.1:8000"
    TOKEN_MINUTES: int = Field(default=15, ge=1, le=24 * 60)
    MAX_BODY_BYTES: int = Field(default=256 * 1024, ge=1024)
    # For a disc's reading posted to intake / verify (a 5,000-file disc is about 1.7 MB).
    MAX_READING_BYTES: int = Field(default=64 * 1024 * 1024, ge=1024)
    PURPOSES: Annotated[tuple[str, ...], NoDecode] = DEFAULT_PURPOSES
    APPROVAL_PURPOSES: Annotated[tuple[str, ...], NoDecode] = DEFAULT_APPROVAL_PURPOSES
    DEFAULT_LOAN_DAYS: int = Field(default=14, ge=1, le=365)
    MAX_LOAN_DAYS: int = Field(default=365, ge=1, le=3650)
    # SQLite busy timeout: how long a writer waits for the single write lock.
    SQLITE_BUSY_TIMEOUT_MS: int = 10_000
    DOCS_ENABLED: bool = True
    # Web pages: a shared desk PC must not stay logged in for the next person.
    SESSION_IDLE_MINUTES: float = Field(default=15, gt=0, le=12 * 60)
    # The zone the pages show times in (IANA name); the database keeps UTC.
    TIMEZONE: str = "Asia/Shanghai"
    # `mediatrack serve` over https (both or neither): PEM server certificate (its chain after
    # it) and private key. Phones need https for Web NFC (docs/phone.md).
    TLS_CERT_FILE: Path | None = None
    TLS_KEY_FILE: Path | None = None
    # Each station's read budget (app.core.ratelimit): reads (not requests) per second it may
    # send on average, and how many it may send at once. A desk taps about once a second and a
    # hand sweep reads a few tags a second; 10/s leaves room for both, while a reader gone
    # runaway adds at most 36,000 events an hour instead of as many as the server can take.
    # The burst holds two full batches (the APIs take 500 reads at most), so an inventory batch
    # or an agent's backlog after an outage goes through at once, the rest at the rate.
    STATION_READS_PER_SECOND: float = Field(default=10, gt=0)
    STATION_READ_BURST: int = Field(default=1000, ge=500)

    @field_validator("PURPOSES", "APPROVAL_PURPOSES", mode="before")
    @classmethod
    def _split_codes(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(code.strip().upper() for code in value.split(",") if code.strip())
        return value

    @field_validator("TIMEZONE")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"MEDIATRACK_TIMEZONE: {value!r} is not an IANA time zone") from exc
        return value

    @field_validator("SECRET_KEY")
    @classmethod
    def _secret_long_enough(cls, value: str) -> str:
        if value and len(value) < 32:
            raise ValueError("MEDIATRACK_SECRET_KEY must be at least 32 characters")
        return value

    @property
    def database_url(self) -> str:
        return self.DATABASE_URL or f"sqlite:///{self.DATA_DIR / 'mediatrack.db'}"

    @property
    def zone(self) -> ZoneInfo:
        """TIMEZONE as a zone: the archive's calendar (app.core.time.local_today)."""
        return ZoneInfo(self.TIMEZONE)

    @property
    def is_embedded_sqlite(self) -> bool:
        return not self.DATABASE_URL

    @cached_property
    def secret_key(self) -> str:
        if self.SECRET_KEY:
            return self.SECRET_KEY
        made = read_or_create(
            self.DATA_DIR / "secret.key", lambda: f"{secrets.token_urlsafe(48)}\n".encode()
        )
        return made.decode().strip()

    @property
    def site_keys_file(self) -> Path | None:
        if self.SITE_KEYS_FILE is not None:
            return self.SITE_KEYS_FILE
        kept = self.DATA_DIR / "site.keys"
        return kept if kept.exists() else None

    @property
    def signing_key_file(self) -> Path:
        return self.SIGNING_KEY_FILE or self.DATA_DIR / "checkpoint-signing.pem"


def read_or_create(path: Path, make: Callable[[], bytes]) -> bytes:
    """Read a secret kept in a file, creating it (mode 0600) on first use.

    Several processes may start at once (``mediatrack serve --workers``) and all must hold the
    same secret: the new file is written whole beside its place, then hard-linked into it, which
    fails if another process was first; whoever lost reads the winner's file.
    """
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, aside = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(make())
        with contextlib.suppress(FileExistsError):
            os.link(aside, path)
    finally:
        os.unlink(aside)
    return path.read_bytes()


def get_settings() -> Settings:
    return Settings()
