"""Chaos at the stations (tests/support/chaos.py), at a size that fits CI: three agents (real
pcscd + vpcd, real nfcpy udp, sim) tap through fault-injecting proxies while the service and
each agent are killed with SIGKILL; every tap is logged exactly once, the log verifies, the
outboxes are empty. On both databases, and on PostgreSQL with the stations spread over two
instances of `--workers 2`. The full size is tests/bench/bench_chaos.py.

The proxy's faults themselves are shown against a small echo server."""

from __future__ import annotations

import asyncio
import random
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from app.core.config import Settings
from tests.readers.stacks import PcscStack
from tests.support.chaos import Chaos, Report, Size
from tests.support.ports import free_port
from tests.support.proxy import FaultProxy
from tests.support.wait import wait_for

SMALL = Size(taps=30, service_kills=2, agent_kills=1, races=3)


def _run(chaos: Chaos, seed: int) -> None:
    report = chaos.run(SMALL)
    assert report.problems() == [], f"seed {seed}: {report.line()}"
    assert report.service_kills == SMALL.service_kills
    assert report.agent_kills == SMALL.agent_kills * 3
    assert min(report.queued.values()) >= SMALL.taps
    assert sum(report.faults.values()) > 0, report.line()
    assert len(report.races) == SMALL.races


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_taps_survive_faults_and_kills(
    settings: Settings, engine: Engine, tmp_path: Path, pcsc: PcscStack
) -> None:
    seed = random.randrange(2**32)
    _run(Chaos(engine, settings, tmp_path, pcsc, seed=seed), seed)


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("db_url", [pytest.param("postgres", marks=pytest.mark.postgres)],
                         indirect=True)
def test_two_instances_of_two_workers_keep_one_chain(
    settings: Settings, engine: Engine, tmp_path: Path, pcsc: PcscStack
) -> None:
    seed = random.randrange(2**32)
    chaos = Chaos(engine, settings, tmp_path, pcsc, seed=seed, instances=2, workers=2)
    _run(chaos, seed)
    assert all(len(race) == 2 * 2 for race in chaos.report.races)  # both instances raced


@dataclass
class Echo:
    port: int
    got: list[bytes]  # the requests it answered


@pytest.fixture
def echo() -> Iterator[Echo]:
    """A tiny HTTP server on a loopback port: answers every request "ok"; counts them."""
    got: list[bytes] = []
    loop = asyncio.new_event_loop()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while request := await reader.readuntil(b"\r\n\r\n"):
            got.append(request)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            await writer.drain()

    async def quiet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await answer(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    port = free_port()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = asyncio.run_coroutine_threadsafe(
        asyncio.start_server(quiet, "127.0.0.1", port), loop).result(10)
    yield Echo(port, got)
    loop.call_soon_threadsafe(server.close)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


@pytest.mark.parametrize(
    ("kind", "error", "forwarded"),
    [
        ("pass", None, True),
        ("drop", httpx.RemoteProtocolError, False),
        ("reset", httpx.ReadError, False),
        ("hang", httpx.ReadTimeout, False),
        ("answer_lost", httpx.RemoteProtocolError, True),
    ],
)
def test_each_fault_does_what_it_says(
    echo: Echo, kind: str, error: type[Exception] | None, forwarded: bool
) -> None:
    proxy = FaultProxy({kind: 1.0}, seed=1)
    proxy.start()
    proxy.upstream = echo.port
    got = echo.got
    try:
        with httpx.Client(base_url=proxy.url, timeout=1) as client:
            if error is None:
                assert client.get("/").text == "ok"
            else:
                with pytest.raises(error):
                    client.get("/")
        if forwarded:
            wait_for(lambda: len(got) == 1, 5, "the request at the server")
        else:
            assert got == []
        assert proxy.faults == {kind: 1}
    finally:
        proxy.stop()


def test_a_service_that_is_down_closes_the_connection() -> None:
    proxy = FaultProxy({"pass": 1.0}, seed=1)
    proxy.start()
    try:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
            assert sock.recv(10) == b""  # closed at once: the client retries elsewhere or later
    finally:
        proxy.stop()


def test_the_report_names_what_went_wrong() -> None:
    """The checks could fail: a lost tap, a duplicate, a full outbox, two winners, a broken
    chain are each named."""
    clean = Report(queued={"pcsc": 3, "udp": 3, "sim": 4}, tapped={"pcsc": 3, "udp": 3},
                   races=[[409, 200, 409]], verify="ok", chain="ok")
    assert clean.problems() == []
    broken = Report(queued={"pcsc": 3, "udp": 3, "sim": 4}, tapped={"pcsc": 3, "udp": 2},
                    lost=1, duplicated=2, waiting=1, races=[[200, 200, 409]], open_loans=2,
                    verify="entry 7 does not link", chain="9 entries, last seq 10")
    problems = " ".join(broken.problems())
    assert "1 taps lost, 2 duplicated" in problems
    assert "made {'udp': 2} taps" in problems
    assert "1 waiting" in problems
    assert "[[200, 200, 409]]" in problems and "2 open loans" in problems
    assert "audit verify: entry 7 does not link" in problems
    assert "chain: 9 entries" in problems
