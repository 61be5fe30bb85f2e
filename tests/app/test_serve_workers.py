"""`mediatrack serve --workers 2` on PostgreSQL, over https: both processes serve custody writes
and scans at once, writers queue on the log's lock across processes (one winner per race, a
gap-free chain that verifies, every acknowledged scan stored), and a desk page open in one
process hears a scan posted to the other. SQLite refuses more than one process.

Which process accepts a connection is the kernel's choice; a test learns it by finding which
worker holds the server's end of the client's connection (Linux /proc), and keeps the
connections that landed where it wants them."""

from __future__ import annotations

import itertools
import os
import queue
import ssl
import subprocess
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text

from app.audit import service as audit_service
from app.core.config import Settings
from app.core.db import session_scope
from tests.factories import World, tag_uid
from tests.support.cli import MEDIATRACK, cli_env
from tests.support.desk import desk_client, listen, until_scan
from tests.support.pki import make_pki
from tests.support.ports import free_port
from tests.support.wait import wait_for

WORKERS = 2
LANES_PER_WORKER = 2  # clerks racing for one carrier in each process
ROUNDS = 15

on_postgres = pytest.mark.parametrize(
    "db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


def _children_by_parent() -> dict[int, list[int]]:
    found: dict[int, list[int]] = defaultdict(list)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            after_name = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        found[int(after_name[1])].append(int(stat.parent.name))
    return found


def _descendants(root: int) -> list[int]:
    children, found, todo = _children_by_parent(), [], [root]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def _port(hex_address: str) -> int:
    return int(hex_address.rsplit(":", 1)[1], 16)


def _holder(root: int, server_port: int, client_port: int) -> int | None:
    """The process under ``root`` holding the server's end of the connection from
    ``client_port`` (None until a worker has accepted it)."""
    sockets = {
        f"socket:[{fields[9]}]"
        for fields in (line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:])
        if _port(fields[1]) == server_port and _port(fields[2]) == client_port
    }
    for pid in _descendants(root):
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in sockets:
                    return pid
            except OSError:
                continue
    return None


@dataclass
class Service:
    """A running `mediatrack serve --workers 2` and a way to tell its workers apart."""

    process: subprocess.Popen[bytes]
    base: str
    port: int
    trust: ssl.SSLContext
    log: Path
    _seen: dict[int, int] = field(default_factory=dict)  # client port -> worker
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def worker_of(self, response: httpx.Response) -> int:
        """The worker that answered: the one holding the other end of its connection."""
        client_port = response.extensions["network_stream"].get_extra_info("client_addr")[1]
        with self._lock:
            if client_port not in self._seen:
                found = wait_for(lambda: _holder(self.process.pid, self.port, client_port), 10,
                                 "the connection's worker")
                assert isinstance(found, int)
                self._seen[client_port] = found
            return self._seen[client_port]

    def client(self, headers: dict[str, str] | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers=headers, verify=self.trust, timeout=30)

    def lanes(self, per_worker: int, headers: dict[str, str]) -> dict[int, list[httpx.Client]]:
        """Kept-alive clients, ``per_worker`` on each worker: connections are opened until the
        kernel has handed enough of them to every worker."""
        by_worker: dict[int, list[httpx.Client]] = defaultdict(list)

        def enough() -> bool:
            client = self.client(headers)
            worker = self.worker_of(client.get("/login"))
            if len(by_worker[worker]) < per_worker:
                by_worker[worker].append(client)
            else:
                client.close()
            full = [w for w, cs in by_worker.items() if len(cs) == per_worker]
            return len(full) == WORKERS

        wait_for(enough, 60, f"{per_worker} connections on each of {WORKERS} workers")
        assert len(by_worker) == WORKERS, by_worker.keys()
        return by_worker


@pytest.fixture
def service(settings: Settings, world: World, tmp_path: Path) -> Iterator[Service]:
    pki = make_pki(tmp_path / "pki")
    port = free_port()
    base = f"https://127.0.0.1:{port}"
    env = cli_env(tmp_path, DATABASE_URL=settings.database_url, SECRET_KEY=settings.SECRET_KEY,
                  PUBLIC_URL=base)
    log = tmp_path / "serve.log"
    with log.open("wb") as out:  # a file, not a pipe: nobody reads a pipe while it fills
        process = subprocess.Popen(
            [*MEDIATRACK, "serve", "--host", "127.0.0.1", "--port", str(port),
             "--workers", str(WORKERS), "--certfile", str(pki.cert), "--keyfile", str(pki.key)],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    running = Service(process, base, port, ssl.create_default_context(cafile=str(pki.ca)), log)

    def up() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            return httpx.get(f"{base}/login", verify=running.trust, timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    workers: list[int] = []
    try:
        wait_for(up, 60, "mediatrack serve --workers to answer")
        yield running
        workers = _descendants(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert len(workers) >= WORKERS
    wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers), 30,
             "the workers to stop with the command")


def _read(seq: int, n: int) -> dict[str, object]:
    return {"event_id": str(uuid.uuid4()), "station_seq": seq, "tag_uid": tag_uid(n),
            "technology": "iso14443a", "read_at": datetime.now(UTC).isoformat()}


@on_postgres
@pytest.mark.slow
def test_two_workers_share_the_log(service: Service, engine: Engine, world: World) -> None:
    label = world.labels[0]
    clerks = service.lanes(LANES_PER_WORKER, world.auth("clerk"))
    stations = service.lanes(LANES_PER_WORKER, world.auth("station"))
    racers = [c for cs in clerks.values() for c in cs]
    body = {"borrower_id": world.borrower_id, "purpose": "TREAT"}
    served: dict[str, set[int]] = defaultdict(set)  # what -> workers that answered it
    acknowledged: list[str] = []  # event ids of scans answered 200
    tallies: list[list[int]] = []
    seqs = itertools.count(1)
    racing = threading.Event()
    racing.set()

    def checkout(client: httpx.Client, start: threading.Barrier) -> int:
        start.wait(timeout=30)  # every clerk, in both processes, asks at once
        answer = client.post(f"/api/v1/carriers/{label}/checkout", json=body)
        served["checkout"].add(service.worker_of(answer))
        return answer.status_code

    def scanning(client: httpx.Client) -> None:
        n = 0
        while racing.is_set():
            read = _read(next(seqs), n % 3 + 1)
            answer = client.post("/api/v1/scans", json={"reads": [read]})
            assert answer.status_code == 200, answer.text
            served["scan"].add(service.worker_of(answer))
            acknowledged.append(str(read["event_id"]))
            n += 1

    scanners = [c for cs in stations.values() for c in cs]
    with ThreadPoolExecutor(len(racers) + len(scanners)) as pool:
        scans = [pool.submit(scanning, c) for c in scanners]
        try:
            for _ in range(ROUNDS):
                start = threading.Barrier(len(racers))
                tallies.append(sorted(pool.map(checkout, racers, [start] * len(racers))))
                back = racers[0].post(f"/api/v1/carriers/{label}/return", json={})
                assert back.status_code == 200, back.text
        finally:
            racing.clear()
        for scan in scans:
            scan.result(timeout=60)
    for client in [*racers, *scanners]:
        client.close()

    assert served == {"checkout": set(clerks), "scan": set(stations)}
    one_winner = sorted([200] + [409] * (len(racers) - 1))
    assert [t for t in tallies if t != one_winner] == []
    with engine.connect() as conn:
        loans = conn.execute(text("SELECT COUNT(*) FROM loan")).scalar()
        stored = set(conn.execute(text("SELECT event_id FROM scan")).scalars())
        seen = conn.execute(text("SELECT COUNT(*) FROM custody_event WHERE action = 'seen'"))
        events = conn.execute(text("SELECT COUNT(*), MAX(seq) FROM custody_event")).one()
    assert loans == ROUNDS
    assert len(acknowledged) > 0 and set(acknowledged) <= stored
    assert seen.scalar() == len(stored)
    assert events[0] == events[1]  # gap-free
    with session_scope(engine) as session:
        assert audit_service.verify(session).ok


@on_postgres
def test_a_desk_in_one_worker_hears_a_scan_posted_to_the_other(
    service: Service, world: World
) -> None:
    desk = desk_client(service.base, verify=service.trust)
    events: queue.Queue[tuple[str, str]] = queue.Queue()
    opened: queue.Queue[httpx.Response] = queue.Queue()
    ready = threading.Event()
    listener = threading.Thread(target=listen, args=(desk, events, ready, opened), daemon=True)
    listener.start()
    desk_worker = service.worker_of(opened.get(timeout=10))
    assert ready.wait(10), "the desk's stream never opened"

    def elsewhere() -> httpx.Client | None:
        client = service.client(world.auth("station"))
        if service.worker_of(client.get("/login")) != desk_worker:
            return client
        client.close()
        return None

    station = wait_for(elsewhere, 60, "a connection to the other worker")
    assert isinstance(station, httpx.Client)
    answer = station.post("/api/v1/scans", json={"reads": [_read(1, 1)]})
    assert answer.status_code == 200, answer.text
    assert service.worker_of(answer) != desk_worker
    station.close()
    names, data = until_scan(events)
    assert names == ["ready", "scan"]
    assert world.labels[0] in data
    listener.join(timeout=10)
    desk.close()


@pytest.mark.parametrize("database", ["", "sqlite:///{data}/other.db"])
def test_sqlite_refuses_more_than_one_worker(tmp_path: Path, database: str) -> None:
    env = cli_env(tmp_path, DATABASE_URL=database.format(data=tmp_path))
    done = subprocess.run([*MEDIATRACK, "serve", "--port", str(free_port()), "--workers", "2"],
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert "--workers 2 needs PostgreSQL: SQLite is served by one process." in " ".join(
        done.stderr.split()
    )
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "data" / "mediatrack.db").exists()  # refused before any work
