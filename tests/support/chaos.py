"""The chaos harness: three station agents on emulated readers tap tags through fault-injecting
proxies into `mediatrack serve`, while the service and the agents are killed with SIGKILL.

The stations: one on real pcscd with a vpcd virtual tag (``pcsc://``), one on real nfcpy's udp
driver (``nfc://udp:...``), one on ``sim://`` tapping its own tags in the agent's process. Each
has its own station, key and outbox, and reaches the service through a
:class:`~tests.support.proxy.FaultProxy` of its own. The service is one instance, or two on one
PostgreSQL database (stations spread over them), each optionally with ``--workers``.

During the run the service is killed ``service_kills`` times (spread over the taps; on two
instances they take turns) and started again on a new port behind the same proxy; each agent is
killed ``agent_kills`` times and started again on the same outbox (the pcsc and udp agents
between two taps, the sim agent wherever it stands). Then the harness waits (deadline) for every
outbox to be empty, races check-outs of one carrier through every instance, and reads the
database. The taps are known by their event ids: a trigger the harness adds to each outbox file
copies every queued scan's event id, in the agent's own transaction, to a table the agent does
not know (sequence numbers will not do: an agent renumbers its unsent scans after the service
took one whose answer was lost, leaving gaps). The station's stored scans must be exactly those
event ids, each with exactly one "seen" entry in the log; the log verifies and is one chain;
each race had exactly one winner. Used by tests/app/test_chaos.py (small) and
tests/bench/bench_chaos.py (full size).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import Engine, text
from sqlmodel import select

from app.audit import service as audit_service
from app.core.config import Settings
from app.core.db import session_scope
from app.core.principal import SYSTEM
from app.core.security import issue_token
from app.stations import service as station_service
from app.stations.schemas import StationCreate
from app.users.models import User
from readers.base import TagType
from readers.emulators.tags import Ntag21x
from readers.emulators.udp import UdpTag
from readers.emulators.vpcd import VirtualTag
from readers.outbox import Outbox
from tests.factories import World, build_world, tag_uid
from tests.readers.agent_process import AgentProcess
from tests.readers.stacks import PcscStack, wait_sensing
from tests.support.ports import free_fixed_udp_port
from tests.support.proxy import FaultProxy
from tests.support.service import ServiceProcess
from tests.support.wait import wait_for

KINDS = ("pcsc", "udp", "sim")  # one station each
TAGS_PER_STATION = 3
CARRIERS = len(KINDS) * TAGS_PER_STATION + 1  # the last one is raced for, never tapped
# Per chunk a client sends: most pass, the rest is every kind of fault.
WEIGHTS = {"pass": 0.80, "drop": 0.05, "hang": 0.01, "reset": 0.05, "answer_lost": 0.09}
AGENT_OPTIONS = ("--max-backoff", "1")
SIM_TAP_EVERY = 0.3  # seconds between the sim agent's taps
RACERS_PER_INSTANCE = 2


@dataclass
class Size:
    taps: int  # per station
    service_kills: int
    agent_kills: int  # per station
    races: int = 5  # check-out races for one carrier


@dataclass
class Report:
    """What a run did and what it left; :meth:`problems` empty is a clean run."""

    queued: dict[str, int] = field(default_factory=dict)  # station -> taps its outbox queued
    tapped: dict[str, int] = field(default_factory=dict)  # station -> taps the harness made
    stored: dict[str, int] = field(default_factory=dict)  # station -> scans stored
    lost: int = 0  # queued taps with no stored scan
    duplicated: int = 0  # scans stored twice, or with more than one "seen" entry
    unlogged: int = 0  # stored scans with no "seen" entry
    waiting: int = 0  # left in the outboxes
    dead: int = 0  # set aside in the outboxes' dead-letter tables
    faults: Counter[str] = field(default_factory=Counter)
    service_kills: int = 0
    agent_kills: int = 0
    races: list[list[int]] = field(default_factory=list)  # statuses of each check-out race
    open_loans: int = 0  # open loans of the raced carrier at the end
    verify: str = ""
    chain: str = ""
    seconds: float = 0.0

    def problems(self) -> list[str]:
        found = []
        if self.lost or self.duplicated or self.unlogged:
            found.append(f"{self.lost} taps lost, {self.duplicated} duplicated, "
                         f"{self.unlogged} stored without their \"seen\" entry "
                         f"(queued {self.queued}, stored {self.stored}).")
        made = {k: n for k, n in self.tapped.items() if n != self.queued[k]}
        if made:
            found.append(f"The harness made {made} taps, the agents queued {self.queued}.")
        if self.waiting or self.dead:
            found.append(f"The outboxes hold {self.waiting} waiting and {self.dead} dead "
                         "letters.")
        wrong = [r for r in self.races if sorted(r) != sorted([200] + [409] * (len(r) - 1))]
        if wrong or self.open_loans > 1:
            found.append(f"Check-out races without exactly one winner: {wrong}; "
                         f"{self.open_loans} open loans of the raced carrier.")
        if self.verify != "ok":
            found.append(f"audit verify: {self.verify}")
        if self.chain != "ok":
            found.append(f"chain: {self.chain}")
        return found

    def line(self) -> str:
        faults = ", ".join(f"{k} {n}" for k, n in sorted(self.faults.items()))
        return (f"taps {sum(self.queued.values())} ({self.queued}), faults: {faults}; "
                f"service kills {self.service_kills}, agent kills {self.agent_kills}; "
                f"lost {self.lost}, duplicated {self.duplicated}, races {len(self.races)}; "
                f"verify {self.verify}, chain {self.chain}; {self.seconds:.0f} s")


TAPPED = """
CREATE TABLE tapped (event_id TEXT PRIMARY KEY);
CREATE TRIGGER tap AFTER INSERT ON scan BEGIN INSERT INTO tapped VALUES (new.event_id); END;
"""


def new_outbox(path: Path) -> None:
    """An agent's outbox file, made as the agent makes it, with the harness's tap trigger."""
    Outbox(path).close()
    db = sqlite3.connect(path)
    db.executescript(TAPPED)
    db.close()


def outbox_numbers(path: Path) -> tuple[int, int, int]:
    """(waiting, dead letters, taps queued) of an agent's outbox file."""
    db = sqlite3.connect(path, timeout=30)
    try:
        (waiting,) = db.execute("SELECT count(*) FROM scan").fetchone()
        (dead,) = db.execute("SELECT count(*) FROM dead_letter").fetchone()
        (taps,) = db.execute("SELECT count(*) FROM tapped").fetchone()
    finally:
        db.close()
    return int(waiting), int(dead), int(taps)


def tapped(path: Path) -> set[str]:
    """The event ids of every scan the agent queued in the outbox file."""
    db = sqlite3.connect(path, timeout=30)
    try:
        return {row[0] for row in db.execute("SELECT event_id FROM tapped")}
    finally:
        db.close()


@dataclass
class _Station:
    kind: str
    name: str
    key: str
    outbox: Path
    proxy: FaultProxy
    uids: list[str]
    reader: str = ""
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    agent: AgentProcess | None = None
    taps: int = 0  # taps the harness has seen queued (pcsc, udp) or the outbox counted (sim)

    def start(self, reader: str | None = None) -> AgentProcess:
        self.agent = AgentProcess(reader=reader or self.reader, server=self.proxy.url,
                                  key=self.key, outbox=self.outbox, env=self.env,
                                  extra=AGENT_OPTIONS)
        self.agent.start()
        return self.agent

    def kill(self) -> None:
        assert self.agent is not None
        self.agent.kill()


class Chaos:
    """One run on one database: ``instances`` services (two only on PostgreSQL), each with
    ``workers`` processes."""

    def __init__(self, engine: Engine, settings: Settings, folder: Path, pcsc: PcscStack, *,
                 seed: int, instances: int = 1, workers: int = 1) -> None:
        self.engine, self.settings, self.folder, self.pcsc = engine, settings, folder, pcsc
        self.seed = seed
        self.world: World = build_world(engine, settings, carriers=CARRIERS)
        self.services = [ServiceProcess(settings, folder, workers=workers,
                                        log_name=f"serve-{n}.log") for n in range(instances)]
        self.stations: list[_Station] = []
        with session_scope(engine) as session:
            for n, kind in enumerate(KINDS):
                name = f"chaos-{kind}"
                key = station_service.create(
                    session=session, station_in=StationCreate(name=name, location="DESK"),
                    by=SYSTEM)[1]
                uids = [tag_uid(n * TAGS_PER_STATION + i + 1) for i in range(TAGS_PER_STATION)]
                proxy = FaultProxy(WEIGHTS, seed + n)
                outbox = folder / f"{name}.outbox"
                new_outbox(outbox)
                self.stations.append(_Station(kind, name, key, outbox, proxy, uids))
            self.clerk_id = session.exec(select(User).where(User.username == "clerk")).one().id
        self.udp_port = free_fixed_udp_port()
        pcsc_station, udp_station, sim_station = self.stations
        pcsc_station.reader, pcsc_station.env = "pcsc://", pcsc.env
        udp_station.reader = f"nfc://udp:127.0.0.1:{self.udp_port}"
        sim_station.reader = ("sim://?tags=" + ",".join(f"NTAG213:{u}" for u in sim_station.uids)
                              + f"&tap_every={SIM_TAP_EVERY}")
        self.report = Report()
        self._errors: list[BaseException] = []
        self._lock = threading.Lock()

    # -- the run -----------------------------------------------------------------------------

    def run(self, size: Size) -> Report:
        started = time.monotonic()
        for n, station in enumerate(self.stations):
            service = self.services[n % len(self.services)]
            station.proxy.start()
            if service.process is None:
                service.start()
            station.proxy.upstream = service.port
        try:
            for station in self.stations:
                station.start()
            workers = [threading.Thread(target=self._guard, args=(fn, size), daemon=True)
                       for fn in (self._tap_pcsc, self._tap_udp, self._tap_sim)]
            for worker in workers:
                worker.start()
            self._kill_services(size, workers)
            for worker in workers:
                worker.join()
            if self._errors:
                raise self._errors[0]
            wait_for(self._drained, 600, "every outbox to be empty")
            for station in self.stations:
                assert station.agent is not None
                station.agent.stop()
            self._race(size.races)
        finally:
            for station in self.stations:
                if station.agent is not None:
                    station.agent.stop()
                station.proxy.stop()
            for service in self.services:
                service.kill()
        self.report.seconds = time.monotonic() - started
        for station in self.stations:
            self.report.faults.update(station.proxy.faults)
        self.report.faults.pop("pass", None)
        self._read()
        return self.report

    def _guard(self, work: Callable[[Size], None], size: Size) -> None:
        try:
            work(size)
        except BaseException as exc:  # noqa: BLE001 (handed to the main thread)
            self._errors.append(exc)

    def _progress(self) -> int:
        return sum(s.taps for s in self.stations)

    def _kill_services(self, size: Size, workers: list[threading.Thread]) -> None:
        """SIGKILL the services at evenly spread points of the taps, in turn; start each again
        on a new port behind the same proxies."""
        total = size.taps * len(self.stations)
        for n in range(1, size.service_kills + 1):
            point = n * total // (size.service_kills + 1)

            def due(point: int = point) -> bool:
                return self._progress() >= point or not any(w.is_alive() for w in workers)

            wait_for(due, 3600, f"service kill {n}'s turn")
            if self._errors:
                return
            service = self.services[n % len(self.services)]
            behind = [s for i, s in enumerate(self.stations)
                      if self.services[i % len(self.services)] is service]
            for station in behind:
                station.proxy.upstream = None
            service.kill()
            self.report.service_kills += 1
            service.start()
            for station in behind:
                station.proxy.upstream = service.port

    def _agent_kill_due(self, station: _Station, size: Size, done: int) -> bool:
        points = {k * size.taps // (size.agent_kills + 1) for k in range(1, size.agent_kills + 1)}
        return done in points

    def _kill_agent(self, station: _Station) -> None:
        station.kill()
        with self._lock:
            self.report.agent_kills += 1
        station.start()

    def _tap_pcsc(self, size: Size) -> None:
        station = self.stations[0]
        tags = [VirtualTag(Ntag21x(TagType.NTAG213, bytes.fromhex(u)), self.pcsc.port(0, 0))
                for u in station.uids]
        self._tap_in_turn(station, size, tags, lambda: wait_for(
            lambda: self.pcsc.slot_empty(0, 0), 10, "pcscd to see the tag lifted"))

    def _tap_udp(self, size: Size) -> None:
        station = self.stations[1]
        tags = [UdpTag(Ntag21x(TagType.NTAG213, bytes.fromhex(u)), self.udp_port)
                for u in station.uids]
        self._tap_in_turn(station, size, tags, lambda: wait_sensing(self.udp_port))

    def _tap_in_turn(
        self, station: _Station, size: Size, tags: Sequence[VirtualTag | UdpTag],
        gone: Callable[[], object],
    ) -> None:
        """Tap the station's tags one after the other, killing its agent at its points; after
        each lift, ``gone`` waits until the reader has seen the tag go."""
        for n in range(size.taps):
            if self._agent_kill_due(station, size, n):
                self._kill_agent(station)
            tag = tags[n % len(tags)]
            self._tap(station, tag.place)
            tag.lift()
            gone()

    @staticmethod
    def _tap(station: _Station, place: Callable[[], None]) -> None:
        """Put a tag down and wait until the agent says it queued the read."""
        agent = station.agent
        assert agent is not None
        before = len(agent.lines)
        place()
        agent.wait_line("queued #", timeout=30, after=before)
        station.taps += 1

    def _tap_sim(self, size: Size) -> None:
        """The sim agent taps its tags itself; its outbox counts them. Killed at its points,
        stopped at ``size.taps``, then run on an empty sim reader to send what waits."""
        station = self.stations[2]
        for k in range(1, size.agent_kills + 2):
            goal = k * size.taps // (size.agent_kills + 1)

            def reached(goal: int = goal) -> bool:
                station.taps = outbox_numbers(station.outbox)[2]
                return station.taps >= goal

            wait_for(reached, 60 + 5 * size.taps, f"the sim agent's tap {goal}")
            if k <= size.agent_kills:
                self._kill_agent(station)
        assert station.agent is not None
        station.agent.stop()
        station.start("sim://")

    def _drained(self) -> bool:
        return all(outbox_numbers(s.outbox)[0] == 0 for s in self.stations)

    def _race(self, rounds: int) -> None:
        """Clerks on every instance check out one carrier at once: one wins, the others are
        refused; the winner's loan is returned before the next round."""
        label = self.world.labels[-1]
        token = issue_token(user_id=self.clerk_id or 0, role="clerk",
                            secret=self.settings.secret_key, minutes=60)
        headers = {"Authorization": f"Bearer {token}"}
        clients = [httpx.Client(base_url=s.base, headers=headers, timeout=60)
                   for s in self.services for _ in range(RACERS_PER_INSTANCE)]
        body = {"borrower_id": self.world.borrower_id, "purpose": "TREAT"}

        def checkout(client: httpx.Client, start: threading.Barrier) -> int:
            start.wait(timeout=30)
            return client.post(f"/api/v1/carriers/{label}/checkout", json=body).status_code

        try:
            with ThreadPoolExecutor(len(clients)) as pool:
                for _ in range(rounds):
                    start = threading.Barrier(len(clients))
                    self.report.races.append(list(pool.map(checkout, clients,
                                                           [start] * len(clients))))
                    back = clients[0].post(f"/api/v1/carriers/{label}/return", json={})
                    assert back.status_code == 200, back.text
        finally:
            for client in clients:
                client.close()

    # -- the reading -------------------------------------------------------------------------

    def _read(self) -> None:
        report = self.report
        for station in self.stations:
            waiting, dead, taps = outbox_numbers(station.outbox)
            report.waiting += waiting
            report.dead += dead
            report.queued[station.kind] = taps
            if station.kind != "sim":  # the sim agent taps by itself
                report.tapped[station.kind] = station.taps
        with session_scope(self.engine) as session:
            db = session.connection()
            seen = Counter(json.loads(p)["event_id"] for p in db.execute(
                text("SELECT payload FROM custody_event WHERE action = 'seen'")).scalars())
            for station in self.stations:
                ids = tapped(station.outbox)
                stored = Counter(db.execute(text(
                    "SELECT scan.event_id FROM scan JOIN station ON station.id = scan.station_id "
                    "WHERE station.name = :name"), {"name": station.name}).scalars())
                report.stored[station.kind] = sum(stored.values())
                report.lost += len(ids - set(stored))
                # Stored twice, stored without being tapped, or logged "seen" more than once.
                report.duplicated += sum(n - 1 for n in stored.values()) + len(set(stored) - ids)
                report.duplicated += sum(seen[e] - 1 for e in stored if seen[e] > 1)
                report.unlogged += sum(1 for e in stored if seen[e] == 0)
            size, top, heads = db.execute(text(
                "SELECT count(*), max(seq), count(DISTINCT prev_hash) FROM custody_event")).one()
            report.chain = ("ok" if size == top == heads
                            else f"{size} entries, last seq {top}, {heads} distinct previous "
                                 "hashes (a gap or a fork)")
            verified = audit_service.verify(session)
            report.verify = ("ok" if verified.ok
                             else f"{verified.reason} (entry {verified.first_bad_seq})")
            report.open_loans = db.execute(text(
                "SELECT count(*) FROM loan JOIN carrier ON carrier.id = loan.carrier_id "
                "WHERE carrier.label = :label AND loan.returned_at IS NULL"),
                {"label": self.world.labels[-1]}).scalar_one()
