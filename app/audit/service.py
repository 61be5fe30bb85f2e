"""Append to, read and verify the custody log; sign and check checkpoints."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Engine, Table, bindparam, insert, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.audit import verifier
from app.audit.chain import (
    ENTRY_FIELDS,
    GENESIS,
    canonical_json,
    chain_hash,
    entry_document,
    format_time,
)
from app.audit.models import Checkpoint, CustodyEvent, LogHead
from app.carriers.models import Carrier
from app.core.config import read_or_create
from app.core.db import independent_transaction
from app.core.errors import ForbiddenError, InvalidInputError, NotFoundError
from app.core.ids import id_of
from app.core.principal import Principal
from app.core.time import utcnow

_EVENTS: Table = CustodyEvent.__table__  # type: ignore[attr-defined]
_HEADS: Table = LogHead.__table__  # type: ignore[attr-defined]
# Built once, in Core: every custody change and lookup runs them, and the head is two values
# to read and write, not an object for the ORM to track and flush (that cost more than the SQL).
# They run on the session's connection: Session.execute adds 14 to 30 us a statement of its
# own (its bind lookup and event hooks) to the Core statement's 35 us on SQLite
# (tests.bench.bench_statements).
_HEAD = sa_select(_HEADS.c.seq, _HEADS.c.hash).where(_HEADS.c.id == 1)
_HEAD_FOR_UPDATE = _HEAD.with_for_update()
_HEAD_CREATE = insert(_HEADS).values(id=1, seq=0, hash=GENESIS)
_HEAD_MOVE = (
    update(_HEADS)
    .where(_HEADS.c.id == 1)
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)
_EVENT_INSERT = insert(_EVENTS)
# PostgreSQL: one event and the head's move in one statement, a data-modifying WITH
# (postgresql.org/docs/current/queries-with.html#QUERIES-WITH-MODIFYING), so one round trip
# fewer in every lookup, check-out, return and lone scan. SQLite has no such WITH, and a
# statement there is a call, not a round trip.
_EVENT_INSERT_MOVING_HEAD = insert(_EVENTS).add_cte(_HEAD_MOVE.cte("moved_head"))


@dataclass
class Head:
    """The log's last entry as this transaction sees it: its sequence number and hash."""

    seq: int
    hash: str


def lock_head(session: Session) -> Head:
    """Take the log's write lock for this transaction; the head as it stands.

    Every custody change calls this before reading the state it checks, so on PostgreSQL
    writers queue here and each sees the previous one's committed state; on SQLite
    BEGIN IMMEDIATE already made the transaction the only writer.

    The head read is kept for the innermost transaction it was read in: a rolled-back
    SAVEPOINT (the group writer's pieces run in one each) takes its appends back, and the next
    transaction reads the head again rather than chain after entries that are gone.
    """
    current = session.get_nested_transaction() or session.get_transaction()
    if current is None:
        # Nothing has run yet: begin the transaction the head is read for. Kept as read "in
        # no transaction", it was read again by the next call (the one in append_many), and
        # would have been taken as current by the session's next transaction.
        session.connection()
        current = session.get_transaction()
    held = session.info.get("log_head")
    if held is not None and held[0] is current:
        head: Head = held[1]
        return head
    conn = session.connection()
    found = conn.execute(_HEAD_FOR_UPDATE).one_or_none()
    if found is None:
        conn.execute(_HEAD_CREATE)
        head = Head(seq=0, hash=GENESIS)
    else:
        head = Head(seq=found.seq, hash=found.hash)
    session.info["log_head"] = (current, head)
    return head


@dataclass(frozen=True)
class Entry:
    """One event to append."""

    action: str
    payload: dict[str, Any]
    carrier_id: int | None = None
    location_id: int | None = None

    @classmethod
    def about(
        cls,
        carrier: Carrier,
        *,
        action: str,
        payload: dict[str, Any],
        location_id: int | None = None,
    ) -> Entry:
        """An event about one carrier: its payload starts with the carrier's label."""
        return cls(
            action=action,
            payload={"label": carrier.label, **payload},
            carrier_id=id_of(carrier),
            location_id=location_id,
        )


@dataclass(frozen=True)
class Appended:
    seq: int
    recorded_at: datetime
    hash: str


def append_many(session: Session, *, principal: Principal, entries: list[Entry]) -> list[Appended]:
    """Chain the entries after the current head and insert them in one statement."""
    return append_by(session, [(principal, entry) for entry in entries])


def append_by(session: Session, entries: list[tuple[Principal, Entry]]) -> list[Appended]:
    """Like :func:`append_many`, each entry with who it is by (a commit group's scans come
    from several stations and are inserted in one statement)."""
    head = lock_head(session)
    recorded_at = utcnow()
    rows: list[dict[str, Any]] = []
    for principal, entry in entries:
        row: dict[str, Any] = {
            "seq": head.seq + 1,
            "recorded_at": recorded_at,
            "action": entry.action,
            "actor_kind": principal.kind,
            "actor_id": principal.id,
            "actor_role": principal.role.value,
            "station_id": principal.station_id,
            "carrier_id": entry.carrier_id,
            "location_id": entry.location_id,
            "payload": canonical_json(entry.payload),
        }
        row["prev_hash"] = head.hash
        row["hash"] = chain_hash(head.hash, entry_document(**{k: row[k] for k in ENTRY_FIELDS}))
        head.seq, head.hash = row["seq"], row["hash"]
        rows.append(row)
    conn = session.connection()
    moved = {"new_seq": head.seq, "new_hash": head.hash}
    if len(rows) == 1 and conn.dialect.name == "postgresql":
        conn.execute(_EVENT_INSERT_MOVING_HEAD, rows[0] | moved)
    elif rows:
        conn.execute(_EVENT_INSERT, rows)
        conn.execute(_HEAD_MOVE, moved)
    return [Appended(seq=r["seq"], recorded_at=recorded_at, hash=r["hash"]) for r in rows]


def append(
    session: Session,
    *,
    principal: Principal,
    action: str,
    payload: dict[str, Any],
    carrier: Carrier | None = None,
    carrier_id: int | None = None,
    location_id: int | None = None,
) -> Appended:
    """Append one event. ``carrier``: the event is about that carrier (its payload starts with
    the carrier's label); ``carrier_id`` alone only refers to one (a filtered log read)."""
    if carrier is not None:
        if carrier_id is not None:
            raise TypeError("give carrier or carrier_id, not both")
        entry = Entry.about(carrier, action=action, payload=payload, location_id=location_id)
    else:
        entry = Entry(
            action=action, payload=payload, carrier_id=carrier_id, location_id=location_id
        )
    return append_many(session, principal=principal, entries=[entry])[0]


def query_digest(secret: str, query: str) -> str:
    """HMAC-SHA256 of a lookup's text under the service secret: what the log keeps of it."""
    return hmac.new(secret.encode(), query.strip().encode(), hashlib.sha256).hexdigest()


def carrier_id(session: Session, *, label: str) -> int:
    """The id of the carrier a reading of the log is filtered by (404 when there is none)."""
    found = session.exec(select(Carrier.id).where(Carrier.label == label)).first()
    if found is None:
        raise NotFoundError("No carrier is registered under that label.")
    return found


def record_denied(engine: Engine, *, principal: Principal, permission: str, route: str) -> None:
    """Log a refused attempt in its own transaction: the request itself is rolled back."""
    with independent_transaction(engine) as session:
        append(
            session,
            principal=principal,
            action="denied",
            payload={"permission": permission, "route": route},
        )


@dataclass(frozen=True)
class LogQuery:
    """One reading of the log, page after page: the entries after ``after`` up to ``until``,
    the head when its first page was read (so the reading's own entry, and any later one,
    is not in it, and paging ends)."""

    carrier_id: int | None
    after: int
    until: int


CURSOR_PATTERN = r"^(0|[1-9][0-9]{0,9})\.(0|[1-9][0-9]{0,9})\.(0|[1-9][0-9]{0,9})\.[0-9a-f]{32}$"


def _cursor_mac(secret: str, principal: Principal, values: str) -> str:
    message = f"log-cursor:{principal.kind}:{principal.id}:{values}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]


def next_cursor(secret: str, principal: Principal, query: LogQuery, last_seq: int) -> str:
    """The next page of ``query`` for this caller: signed, so a page read with it is not logged
    again and it cannot be made up to read without being logged."""
    values = f"{query.carrier_id or 0}.{last_seq}.{query.until}"
    return f"{values}.{_cursor_mac(secret, principal, values)}"


def read_cursor(secret: str, principal: Principal, cursor: str) -> LogQuery:
    values, _, mac = cursor.rpartition(".")
    if not hmac.compare_digest(mac, _cursor_mac(secret, principal, values)):
        raise ForbiddenError(
            "That cursor was not given to you by this server; start the reading again "
            "without one."
        )
    carrier, after, until = (int(v) for v in values.split("."))
    return LogQuery(carrier_id=carrier or None, after=after, until=until)


def _head(session: Session) -> Head | None:
    """The head as this transaction sees it, without locking it."""
    found = session.execute(_HEAD).one_or_none()
    return None if found is None else Head(seq=found.seq, hash=found.hash)


def head_seq(session: Session) -> int:
    head = _head(session)
    return head.seq if head is not None else 0


def list_events(
    session: Session, *, carrier_id: int | None, after_seq: int, limit: int, until: int
) -> list[CustodyEvent]:
    query = select(CustodyEvent).where(CustodyEvent.seq > after_seq, CustodyEvent.seq <= until)
    if carrier_id is not None:
        query = query.where(CustodyEvent.carrier_id == carrier_id)
    return list(session.exec(query.order_by(col(CustodyEvent.seq)).limit(limit)))


# --- verification -------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    size: int
    head_hash: str
    first_bad_seq: int | None = None
    reason: str | None = None


@dataclass(frozen=True)
class ExportedCheckpoint:
    origin: str
    size: int
    head: str
    signed_at: str
    key_id: str
    public_key: str
    signature: str

    def signed_message(self) -> bytes:
        return _checkpoint_message(self.origin, self.size, self.head, self.signed_at)


def verify(session: Session, *, checkpoint: ExportedCheckpoint | None = None) -> VerifyReport:
    """Recompute the chain from the first entry; name the first entry that does not fit.

    Give it a read-only session (``app.core.db.read_only``): one snapshot for the walk and the
    head, and on SQLite no write lock held for the walk's whole length."""
    chain = verifier.walk(session, checkpoint_size=checkpoint.size if checkpoint else None)
    if isinstance(chain, verifier.Break):
        return VerifyReport(False, chain.seq - 1, chain.head, chain.seq, chain.reason)
    return (
        _head_mismatch(session, chain)
        or (_checkpoint_mismatch(chain, checkpoint) if checkpoint is not None else None)
        or VerifyReport(True, chain.size, chain.head)
    )


def log_verification(session: Session, *, principal: Principal, report: VerifyReport) -> None:
    """Log a verification and its result. Call it with a write session other than the one
    the walk read in (a read-only one): a long walk must not hold the write lock."""
    append(
        session,
        principal=principal,
        action="log_verified",
        payload={"ok": report.ok, "size": report.size, "first_bad_seq": report.first_bad_seq},
    )


def _head_mismatch(session: Session, chain: verifier.Chain) -> VerifyReport | None:
    """The log head must record the chain's size and last hash (entries cut off the end)."""
    head = _head(session)
    if head is None or (head.seq, head.hash) == (chain.size, chain.head):
        return None
    return VerifyReport(
        False,
        chain.size,
        chain.head,
        chain.size + 1 if head.seq > chain.size else head.seq,
        f"the log head records {head.seq} entries but {chain.size} entries chain correctly "
        "(entries were removed from the end, or the head was edited)",
    )


def _checkpoint_mismatch(
    chain: verifier.Chain, checkpoint: ExportedCheckpoint
) -> VerifyReport | None:
    """A signed checkpoint catches truncation and full rewrites the chain alone cannot."""
    problem = check_checkpoint_signature(checkpoint)
    if problem:
        return VerifyReport(False, chain.size, chain.head, None, problem)
    if chain.size < checkpoint.size:
        return VerifyReport(
            False,
            chain.size,
            chain.head,
            chain.size + 1,
            # Worded for the restore drill too: a backup older than the checkpoint is a
            # truncated log, and the range says which events it lacks.
            f"missing events {chain.size + 1}..{checkpoint.size}: the log has {chain.size} "
            f"entries but the checkpoint signed on {checkpoint.signed_at} vouches for "
            f"{checkpoint.size} (it was truncated, or restored from an older backup)",
        )
    if chain.at_checkpoint != checkpoint.head:
        return VerifyReport(
            False,
            chain.size,
            chain.head,
            None,
            f"entry {checkpoint.size} does not match the checkpoint signed on "
            f"{checkpoint.signed_at}: the log up to there was rewritten",
        )
    return None


# --- checkpoints --------------------------------------------------------------------------


def _checkpoint_message(origin: str, size: int, head: str, signed_at: str) -> bytes:
    return canonical_json(
        {"origin": origin, "size": size, "head": head, "signed_at": signed_at}
    ).encode()


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """Load the checkpoint key, creating it (mode 0600) on first use."""

    def make() -> bytes:
        return Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    loaded = serialization.load_pem_private_key(read_or_create(path, make), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise InvalidInputError("{name} is not an Ed25519 private key.", name=path.name)
    return loaded


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public: bytes) -> str:
    return hashlib.sha256(public).hexdigest()[:16]


def create_checkpoint(
    session: Session, *, key: Ed25519PrivateKey, origin: str
) -> ExportedCheckpoint:
    """Sign the current head, keep the checkpoint, and return it for export off-box."""
    head = lock_head(session)
    signed_at = format_time(utcnow())
    public = _raw_public(key.public_key())
    signature = key.sign(_checkpoint_message(origin, head.seq, head.hash, signed_at))
    exported = ExportedCheckpoint(
        origin=origin,
        size=head.seq,
        head=head.hash,
        signed_at=signed_at,
        key_id=key_id(public),
        public_key=base64.b64encode(public).decode(),
        signature=base64.b64encode(signature).decode(),
    )
    session.add(
        Checkpoint(
            size=exported.size,
            head_hash=exported.head,
            signed_at=utcnow(),
            key_id=exported.key_id,
            signature=exported.signature,
        )
    )
    session.flush()
    return exported


def check_checkpoint_signature(checkpoint: ExportedCheckpoint) -> str | None:
    """None when the signature holds, else a sentence saying what is wrong."""
    try:
        public = base64.b64decode(checkpoint.public_key, validate=True)
        signature = base64.b64decode(checkpoint.signature, validate=True)
        if key_id(public) != checkpoint.key_id:
            return "the checkpoint's key id does not match its public key"
        Ed25519PublicKey.from_public_bytes(public).verify(signature, checkpoint.signed_message())
    except (ValueError, InvalidSignature):
        return "the checkpoint's signature does not verify: the file was altered"
    return None
