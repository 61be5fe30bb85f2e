"""Fixtures for the reader tests: the real PC/SC stack and virtual tags on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from readers.base import Reader
from readers.client import ServiceClient
from tests.readers.agent_process import AgentProcess
from tests.readers.inventory_sweep import api, port, site, sweep_agents  # noqa: F401
from tests.readers.service import Service
from tests.readers.stacks import PcscStack


@pytest.fixture
def pcsc_reader(pcsc: PcscStack) -> Iterator[Reader]:
    from readers.backends.pcsc import PcscReader

    reader = PcscReader()
    yield reader
    reader.close()


@pytest.fixture(scope="session")
def service_process() -> Iterator[Service]:
    service = Service()
    service.start()
    yield service
    service.destroy()


@pytest.fixture
def service(service_process: Service) -> Service:
    """The running service (a test may have stopped it on purpose)."""
    if not service_process.running:
        service_process.start()
    return service_process


@pytest.fixture
def station_key(service: Service) -> str:
    return service.new_station()


@pytest.fixture
def client(service: Service, station_key: str) -> Iterator[ServiceClient]:
    client = ServiceClient(service.url, station_key)
    yield client
    client.close()


@pytest.fixture
def agents(pcsc: PcscStack, service: Service, station_key: str,
           tmp_path: Path) -> Iterator[Callable[..., AgentProcess]]:
    """Start station agents on pcsc:// for this test's station; all stopped afterwards."""
    started: list[AgentProcess] = []

    def _start(*extra: str) -> AgentProcess:
        agent = AgentProcess(reader="pcsc://", server=service.url, key=station_key,
                             outbox=tmp_path / "outbox.db", env=pcsc.env,
                             extra=("--max-backoff", "1", *extra))
        agent.start()
        started.append(agent)
        return agent

    yield _start
    for agent in started:
        agent.stop()
