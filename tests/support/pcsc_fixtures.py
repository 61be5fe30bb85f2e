"""The real PC/SC stack and virtual tags on it, for every test that needs them.

Registered once, from the root conftest (``pytest_plugins``): libpcsclite reads the socket name
once per process, so a second stack in the same run would leave tests talking to the first
one's pcscd.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from functools import partial

import pytest

from readers.emulators.tags import EmulatedTag
from readers.emulators.vpcd import Faults, VirtualTag
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
