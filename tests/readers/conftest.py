"""Fixtures for the reader tests: the real PC/SC stack and virtual tags on it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest

from readers.base import Reader
from readers.client import ServiceClient
from readers.emulators.tags import EmulatedTag
from readers.emulators.vpcd import Faults, VirtualTag
from tests.readers.agent_process import AgentProcess
from tests.readers.service import Service
from tests.readers.stacks import PcscStack
from tests.support.wait import wait_for


@pytest.fixture(scope="session")
def pcsc_stack() -> Iterator[PcscStack]:
    stack = PcscStack()
    # libpcsclite reads this once per process, on its first call: set it before any.
    os.environ["PCSCLITE_CSOCK_NAME"] = str(stack.socket)
    stack.start()
    yield stack
    stack.destroy()


@pytest.fixture
def pcsc(pcsc_stack: PcscStack) -> PcscStack:
    """The PC/SC stack, running (a previous test may have stopped it on purpose)."""
    pcsc_stack.ensure_running()
    return pcsc_stack


@pytest.fixture
def place(pcsc: PcscStack) -> Iterator[Callable[..., VirtualTag]]:
    """Place an emulated tag on a reader slot; every tag is lifted after the test."""
    placed: list[tuple[VirtualTag, int, int]] = []

    def _place(tag: EmulatedTag, reader: int = 0, slot: int = 0,
               faults: Faults | None = None) -> VirtualTag:
        vtag = VirtualTag(tag, pcsc.port(reader, slot), faults=faults or Faults())
        vtag.place()
        placed.append((vtag, reader, slot))
        return vtag

    yield _place
    for vtag, reader, slot in placed:
        vtag.lift()
        if pcsc.running:
            # The next test starts with an empty slot, not with pcscd's memory of this tag.
            wait_for(partial(pcsc.slot_empty, reader, slot), 5, "the slot to empty")


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
