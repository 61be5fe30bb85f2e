"""The crash drill: a mixed write burst against `mediatrack serve`, the service killed with
SIGKILL at a random moment, then the database read for what a crash may not leave behind.

The burst: stations posting scans (batches of one to three reads, now and then of a tag no
carrier has), and clerks each lending, taking back, dispatching and receiving a pair of
carriers of their own (a dispatch takes the pair when it stands together). Owning their
carriers, the clerks never race each other: every answer but a 2xx is a finding.

What the clients were answered is the ledger. After a kill a write that got a 2xx must be
stored; a write in flight (sent, no answer) may be stored or not, but whole or not at all; and
nothing else may be stored. Used by tests/app/test_crash.py (a few kills) and
tests/bench/bench_crash.py (fifty).
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from app.audit import service as audit_service
from app.audit.models import CustodyEvent
from app.carriers.models import Carrier
from app.core.config import Settings
from app.core.db import session_scope
from app.core.principal import SYSTEM
from app.core.security import issue_token
from app.custody.models import Loan, TransferItem
from app.locations.models import Location
from app.scans.models import Scan
from app.stations import service as station_service
from app.stations.models import Station
from app.stations.schemas import StationCreate
from app.users.models import User
from tests.factories import World, tag_uid
from tests.support.service import ServiceProcess
from tests.support.wait import wait_for

STATIONS = 4  # the world's two, and two more at the desk
CLERKS = 3  # each with a pair of carriers: the world needs 2 * CLERKS of them
UNKNOWN_TAG = tag_uid(0xFFFFFF)  # on no carrier: its scans are stored with no event
# A custody move and the status it leaves its carrier in.
STATUS_AFTER = {
    "store": "in_storage",
    "check_out": "checked_out",
    "return": "in_storage",
    "dispatch": "in_transit",
    "receive": "in_storage",
}
MOVES = set(STATUS_AFTER) - {"store"}  # the moves the burst makes ("store" is the world's)


@dataclass
class Write:
    """One custody move of one carrier, as sent; ``acknowledged`` once a 2xx came back."""

    action: str
    acknowledged: bool = False


@dataclass
class Ledger:
    """What the clients sent and were answered, over every burst on one database."""

    scans: dict[str, bool] = field(default_factory=dict)  # event id -> acknowledged
    carrier_scans: set[str] = field(default_factory=set)  # event ids of carriers' tags
    moves: dict[str, list[Write]] = field(default_factory=lambda: defaultdict(list))
    refused: list[str] = field(default_factory=list)  # every answer that was not a 2xx

    def acknowledged(self) -> int:
        scans = sum(self.scans.values())
        return scans + sum(w.acknowledged for ws in self.moves.values() for w in ws)


@dataclass
class Findings:
    """What one kill left behind; every list empty and both checks "ok" is a clean crash."""

    lost: list[str]  # an acknowledged write missing
    half_written: list[str]  # rows that disagree with each other or with the log
    refused: list[str]  # answers other than 2xx during the burst
    integrity: str  # PRAGMA integrity_check ("ok"; "n/a" on PostgreSQL)
    verify: str  # audit verify ("ok" or its reason)

    def clean(self) -> bool:
        return not (self.lost or self.half_written or self.refused) and (
            self.integrity in ("ok", "n/a") and self.verify == "ok"
        )

    def sentence(self) -> str:
        parts = [*self.lost, *self.half_written, *self.refused]
        if self.integrity not in ("ok", "n/a"):
            parts.append(f"PRAGMA integrity_check says: {self.integrity}")
        if self.verify != "ok":
            parts.append(f"audit verify fails: {self.verify}")
        return " ".join(parts)


@dataclass
class _Held:
    """A clerk's view of one of its carriers, kept from the answers it gets."""

    label: str
    status: str
    place: str
    transfer_id: int | None


class Drill:
    """The burst's clients and their ledger, over repeated kills of one database's service."""

    def __init__(self, engine: Engine, settings: Settings, world: World) -> None:
        assert len(world.labels) >= 2 * CLERKS, "the world needs a pair of carriers per clerk"
        self.engine, self.settings, self.world = engine, settings, world
        self.ledger = Ledger()
        with session_scope(engine) as session:
            keys = [world.station_key, world.other_station_key]
            for n in range(STATIONS - len(keys)):
                name = f"crash-{n + 1}"
                keys.append(station_service.create(
                    session=session, station_in=StationCreate(name=name, location="DESK"),
                    by=SYSTEM)[1])
            clerk = session.exec(select(User).where(User.username == "clerk")).one()
        self.station_keys = keys
        self.clerk_id = clerk.id or 0
        self.pairs = [world.labels[2 * n: 2 * n + 2] for n in range(CLERKS)]
        self.tags = [tag_uid(n + 1) for n in range(2 * CLERKS)]
        # Sequence numbers go on across kills: a number already stored would answer as a replay.
        self.next_seq = dict.fromkeys(self.station_keys, 1)
        self._lock = threading.Lock()
        self._answered = 0

    def burst_and_kill(self, service: ServiceProcess, rng: random.Random) -> int:
        """Run the burst against the running service, SIGKILL it once a random number of writes
        were acknowledged; the number acknowledged in this burst."""
        before = self.ledger.acknowledged()
        self._answered = 0
        # Fresh each burst: a full-size run lasts longer than a token.
        token = issue_token(user_id=self.clerk_id, role="clerk",
                            secret=self.settings.secret_key, minutes=15)
        # Each client draws from a generator of its own, seeded from ``rng``: one seed replays
        # a run's choices.
        threads = [
            *(threading.Thread(target=self._station,
                               args=(service.base, key, random.Random(rng.random())))
              for key in self.station_keys),
            *(threading.Thread(target=self._clerk,
                               args=(service.base, token, pair, random.Random(rng.random())))
              for pair in self.pairs),
        ]
        for thread in threads:
            thread.start()
        # Past the start, where every client is in the middle of its work.
        target = rng.randint(len(threads), 40 * len(threads))
        try:
            wait_for(lambda: self._answered >= target or not any(t.is_alive() for t in threads),
                     120, f"{target} answers")
        finally:
            service.kill()
            for thread in threads:
                thread.join(60)
        return self.ledger.acknowledged() - before

    def _answer(self) -> None:
        with self._lock:
            self._answered += 1

    def _station(self, base: str, key: str, rng: random.Random) -> None:
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=60) as client:
            while True:
                reads = []
                for _ in range(rng.randint(1, 3)):
                    event_id = str(uuid.uuid4())
                    unknown = rng.random() < 0.1
                    reads.append({
                        "event_id": event_id,
                        "station_seq": self.next_seq[key],
                        "tag_uid": UNKNOWN_TAG if unknown else rng.choice(self.tags),
                        "technology": "iso14443a",
                        "read_at": datetime.now(UTC).isoformat(),
                    })
                    self.next_seq[key] += 1
                    self.ledger.scans[event_id] = False
                    if not unknown:
                        self.ledger.carrier_scans.add(event_id)
                try:
                    r = client.post("/api/v1/scans", json={"reads": reads})
                except httpx.TransportError:
                    return  # the service is gone: these reads are in flight
                if r.status_code != 200:
                    self.ledger.refused.append(f"A scan batch was answered {r.status_code}: "
                                               f"{r.text[:200]}")
                    return
                for read in reads:
                    self.ledger.scans[str(read["event_id"])] = True
                self._answer()

    def _clerk(self, base: str, token: str, pair: list[str], rng: random.Random) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            held = []
            for label in pair:
                try:
                    r = client.get(f"/api/v1/carriers/{label}")
                except httpx.TransportError:
                    return
                if r.status_code != 200:
                    self.ledger.refused.append(f"Reading {label} was answered {r.status_code}.")
                    return
                held.append(_held(r.json()))
            while True:
                path, body, labels, action = _next_move(held, self.world.borrower_id, rng)
                writes = [Write(action) for _ in labels]
                for label, write in zip(labels, writes, strict=True):
                    self.ledger.moves[label].append(write)
                try:
                    r = client.post(path, json=body)
                except httpx.TransportError:
                    return  # the service is gone: this move is in flight
                if r.status_code not in (200, 201):
                    self.ledger.refused.append(
                        f"{action} of {', '.join(labels)} was answered {r.status_code}: "
                        f"{r.text[:200]}")
                    return
                for write in writes:
                    write.acknowledged = True
                _apply(held, labels, action, r.json())
                self._answer()

    def findings(self) -> Findings:
        """Read the database (the service is down) for what the kill left."""
        refused, self.ledger.refused = self.ledger.refused, []
        with session_scope(self.engine) as session:
            integrity = "n/a"
            if self.engine.dialect.name == "sqlite":
                rows = session.connection().execute(text("PRAGMA integrity_check")).all()
                integrity = "; ".join(str(row[0]) for row in rows)
            report = audit_service.verify(session)
            verify = "ok" if report.ok else f"{report.reason} (entry {report.first_bad_seq})"
            db = _Stored.load(session, self.pairs)
        return Findings(self._lost(db), db.half_written(), refused, integrity, verify)

    def _lost(self, db: _Stored) -> list[str]:
        lost = []
        missing = [e for e, acked in self.ledger.scans.items() if acked and e not in db.scans]
        if missing:
            lost.append(f"{len(missing)} acknowledged scans are not stored (first: {missing[0]}).")
        unlogged = [
            e for e, acked in self.ledger.scans.items()
            if acked and e in self.ledger.carrier_scans and e in db.scans
            and db.scans[e].event_seq is None
        ]
        if unlogged:
            lost.append(f"{len(unlogged)} acknowledged scans of carriers have no \"seen\" event "
                        f"(first: {unlogged[0]}).")
        for label, writes in self.ledger.moves.items():
            stored = [e.action for e in db.events_of(label) if e.action in MOVES]
            if not follows(stored, writes):
                sent = [w.action + ("" if w.acknowledged else "?") for w in writes]
                lost.append(f"{label}'s logged moves {stored} are not the moves it was sent "
                            f"{sent} (? = unanswered, may be absent).")
        return lost


def _held(body: dict[str, Any]) -> _Held:
    transit = body["transit"]
    return _Held(body["label"], body["status"], body["location"]["code"],
                 transit["transfer_id"] if transit else None)


def _next_move(
    held: list[_Held], borrower_id: int, rng: random.Random
) -> tuple[str, dict[str, Any], list[str], str]:
    """The path, body, carriers and action of a move the pair's state allows: what is moving
    is received, what is out is taken back, and a pair at rest is lent or dispatched."""
    moving = [c for c in held if c.status == "in_transit"]
    if moving:
        transfer = moving[0].transfer_id
        on_it = [c.label for c in moving if c.transfer_id == transfer]
        # One of two received alone, or every open one of the transfer with an empty body.
        labels = on_it[:1] if len(on_it) > 1 and rng.random() < 0.5 else on_it
        body: dict[str, Any] = {"labels": labels} if labels != on_it else {}
        return f"/api/v1/transfers/{transfer}/receive", body, labels, "receive"
    out = [c for c in held if c.status == "checked_out"]
    if out:
        place = rng.choice(["SHELF1", "SHELF2"])
        return f"/api/v1/carriers/{out[0].label}/return", {"location": place}, [out[0].label], \
            "return"
    if rng.random() < 0.4:
        # One dispatch leaves from one place: the pair if it stands together, else one.
        together = [c for c in held if c.place == held[0].place]
        to = "SHELF1" if held[0].place == "VAULT" else "VAULT"
        labels = [c.label for c in together]
        return "/api/v1/transfers", {"labels": labels, "to_location": to}, labels, "dispatch"
    label = rng.choice(held).label
    body = {"borrower_id": borrower_id, "purpose": "TREAT"}
    return f"/api/v1/carriers/{label}/checkout", body, [label], "check_out"


def _apply(held: list[_Held], labels: list[str], action: str, body: dict[str, Any]) -> None:
    """The pair's state after an answered move (a carrier's view, or a transfer's)."""
    for carrier in held:
        if carrier.label not in labels:
            continue
        if action in ("check_out", "return"):
            carrier.status, carrier.place = body["status"], body["location"]["code"]
        elif action == "dispatch":
            carrier.status, carrier.transfer_id = "in_transit", body["id"]
        else:
            carrier.status, carrier.place = "in_storage", body["to"]["code"]
            carrier.transfer_id = None


def follows(stored: list[str], writes: list[Write]) -> bool:
    """``stored`` is ``writes`` in order, less some that were never answered."""
    reachable = {0}  # how much of ``stored`` the writes so far can account for
    for write in writes:
        after = {n + 1 for n in reachable if n < len(stored) and stored[n] == write.action}
        if not write.acknowledged:
            after |= reachable
        reachable = after
    return len(stored) in reachable


@dataclass
class _Stored:
    """The drill's rows, read in one transaction after a kill."""

    scans: dict[str, Scan]
    events: list[CustodyEvent]
    carriers: dict[int, Carrier]
    loans: list[Loan]
    items: list[TransferItem]
    stations: list[Station]
    places: dict[int, str]

    @classmethod
    def load(cls, session: Session, pairs: list[list[str]]) -> _Stored:
        labels = [label for pair in pairs for label in pair]
        carriers = session.exec(select(Carrier).where(col(Carrier.label).in_(labels))).all()
        ids = [c.id for c in carriers]
        return cls(
            scans={s.event_id: s for s in session.exec(select(Scan))},
            events=list(session.exec(select(CustodyEvent).order_by(col(CustodyEvent.seq)))),
            carriers={c.id or 0: c for c in carriers},
            loans=list(session.exec(select(Loan).where(col(Loan.carrier_id).in_(ids)))),
            items=list(session.exec(
                select(TransferItem).where(col(TransferItem.carrier_id).in_(ids)))),
            stations=list(session.exec(select(Station))),
            places={p.id or 0: p.code for p in session.exec(select(Location))},
        )

    def events_of(self, label: str) -> list[CustodyEvent]:
        carrier = next(c for c in self.carriers.values() if c.label == label)
        return [e for e in self.events if e.carrier_id == carrier.id]

    def half_written(self) -> list[str]:
        return [*self._scans_and_seen(), *self._loans(), *self._transfers(), *self._carriers(),
                *self._stations()]

    def _scans_and_seen(self) -> list[str]:
        wrong = []
        seen = {json.loads(e.payload)["event_id"]: e for e in self.events if e.action == "seen"}
        for scan in self.scans.values():
            event = seen.get(scan.event_id)
            if scan.outcome == "seen" and (event is None or event.seq != scan.event_seq):
                wrong.append(f"Scan {scan.event_id} is stored as seen but its \"seen\" event "
                             f"{scan.event_seq} is not the one that names it.")
            if scan.outcome != "seen" and (event is not None or scan.event_seq is not None):
                wrong.append(f"Scan {scan.event_id} ({scan.outcome}) has a \"seen\" event.")
        for event_id, event in seen.items():
            if event_id not in self.scans:
                wrong.append(f"\"Seen\" event {event.seq} names scan {event_id}, "
                             "which is not stored.")
        return wrong

    def _loans(self) -> list[str]:
        wrong = []
        logged: dict[str, set[Any]] = defaultdict(set)
        for e in self.events:
            if e.action in ("check_out", "return") and e.carrier_id in self.carriers:
                logged[e.action].add(json.loads(e.payload)["loan_id"])
        for loan in self.loans:
            if loan.id not in logged["check_out"]:
                wrong.append(f"Loan {loan.id} is stored without its check_out event.")
            if (loan.returned_at is not None) != (loan.id in logged["return"]):
                state = "returned" if loan.returned_at else "open"
                wrong.append(f"Loan {loan.id} is {state} but its return event is "
                             f"{'missing' if loan.returned_at else 'there'}.")
        stored = {loan.id for loan in self.loans}
        for loan_id in logged["check_out"] - stored:
            wrong.append(f"A check_out event names loan {loan_id}, which is not stored.")
        return wrong

    def _transfers(self) -> list[str]:
        wrong = []
        logged: dict[str, set[tuple[int, int]]] = defaultdict(set)
        for e in self.events:
            if e.action in ("dispatch", "receive") and e.carrier_id in self.carriers:
                logged[e.action].add((json.loads(e.payload)["transfer_id"], e.carrier_id))
        items = {(i.transfer_id, i.carrier_id): i for i in self.items}
        for key, item in items.items():
            if key not in logged["dispatch"]:
                wrong.append(f"Transfer {key[0]} holds carrier {key[1]} without its dispatch "
                             "event.")
            if (item.closed_at is not None) != (key in logged["receive"]):
                state = "received" if item.closed_at else "open"
                wrong.append(f"Transfer {key[0]}'s carrier {key[1]} is {state} but its receive "
                             f"event is {'missing' if item.closed_at else 'there'}.")
        for key in logged["dispatch"] - set(items):
            wrong.append(f"A dispatch event puts carrier {key[1]} on transfer {key[0]}, which "
                         "does not hold it.")
        return wrong

    def _carriers(self) -> list[str]:
        wrong = []
        open_loans = {loan.carrier_id for loan in self.loans if loan.returned_at is None}
        open_items = {i.carrier_id for i in self.items if i.closed_at is None}
        for carrier_id, carrier in self.carriers.items():
            who = carrier.label
            if (carrier.status == "checked_out") != (carrier_id in open_loans):
                wrong.append(f"{who} is {carrier.status} but "
                             f"{'has' if carrier_id in open_loans else 'has no'} open loan.")
            if (carrier.status == "in_transit") != (carrier_id in open_items):
                wrong.append(f"{who} is {carrier.status} but "
                             f"{'is' if carrier_id in open_items else 'is not'} on an open "
                             "transfer.")
            mine = [e for e in self.events if e.carrier_id == carrier_id]
            last = [e for e in mine if e.action in STATUS_AFTER][-1]
            if carrier.status != STATUS_AFTER[last.action]:
                wrong.append(f"{who} is {carrier.status} but its last move in the log is "
                             f"{last.action} (entry {last.seq}).")
            if carrier.current_location_id != last.location_id:
                wrong.append(f"{who} is at {self.places[carrier.current_location_id]} but its "
                             f"last move in the log (entry {last.seq}) left it at "
                             f"{self.places.get(last.location_id or 0)}.")
            reads = [datetime.fromisoformat(json.loads(e.payload)["read_at"])
                     for e in mine if e.action == "seen"]
            if carrier.last_seen_at != (max(reads) if reads else None):
                wrong.append(f"{who} was last seen {carrier.last_seen_at} but its latest "
                             f"\"seen\" event says {max(reads) if reads else 'never'}.")
        return wrong

    def _stations(self) -> list[str]:
        wrong = []
        for station in self.stations:
            seqs = [s.station_seq for s in self.scans.values() if s.station_id == station.id]
            if station.last_seq != max(seqs, default=0):
                wrong.append(f"Station {station.name} says its last sequence number is "
                             f"{station.last_seq}; its latest stored scan has "
                             f"{max(seqs, default=0)}.")
        return wrong
