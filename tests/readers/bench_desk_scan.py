"""Benchmark: the software's own time per desk scan, split by layer. Not a test.

A virtual NTAG213 is placed on the virtual PC/SC reader (real pcscd + vpcd, isolated as in the
tests); the station agent runs in this process against a real ``mediatrack serve`` on a temp
SQLite database. For each of N taps we record:

- poll wait: tag placed -> pcscd's presence poll that finds it (pcscd polls vpcd every 400 ms;
  a real ACR122U polls every 250 ms). The reader's own rhythm, not our software.
- reader stack: that poll -> the ``arrived`` event (pcscd, libpcsclite, pyscard, our
  supervisor: status change, connect, GET DATA, CC read).
- agent: event -> outbox row durable (WAL, synchronous=FULL) -> request sent, plus answer
  received -> line printed.
- server: the HTTP round trip of ``POST /api/v1/scans`` (uvicorn + FastAPI + SQLite).

Run as root (pcscd needs a private mount namespace), from the repository root::

    .venv/bin/python -m tests.readers.bench_desk_scan [N]

and paste its table into docs/performance.md, section "Desk scan".
"""

from __future__ import annotations

import io
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from readers.agent import StationAgent
from readers.backends.pcsc import PcscReader
from readers.base import TagEvent
from readers.client import ServiceClient
from readers.emulators.tags import Ntag21x
from readers.emulators.vpcd import VirtualTag
from readers.outbox import Outbox, Scan
from tests.readers.service import Service
from tests.readers.stacks import PcscStack
from tests.support.wait import wait_for


class Clock:
    """Timestamps (perf_counter) of each stage of the current tap."""

    def __init__(self) -> None:
        self.marks: dict[str, float] = {}

    def mark(self, name: str) -> None:
        self.marks.setdefault(name, time.perf_counter())


def run(n: int) -> list[dict[str, float]]:
    stack = PcscStack()
    os.environ["PCSCLITE_CSOCK_NAME"] = str(stack.socket)
    stack.start()
    service = Service()
    service.start()
    clock = Clock()
    try:
        service.register("BENCH001")
        key = service.new_station()
        client = ServiceClient(service.url, key)
        client.bind_tag("BENCH001", "04B0000000BE01", *_tag_kind())
        reader = PcscReader()
        outbox_dir = tempfile.TemporaryDirectory(prefix="mt-bench-outbox-")
        outbox = Outbox(Path(outbox_dir.name) / "outbox.db")

        # Stage hooks: wrap the instances' methods; the code under measurement is unchanged.
        emit = reader._emit

        def timed_emit(event: TagEvent) -> None:
            if event.kind == "arrived":
                clock.mark("arrived")
            emit(event)

        reader._emit = timed_emit  # type: ignore[method-assign]
        add = outbox.add

        def timed_add(tag_uid: str, technology: str, read_at: datetime) -> Scan:
            clock.mark("handled")
            scan = add(tag_uid, technology, read_at)
            clock.mark("durable")
            return scan

        outbox.add = timed_add  # type: ignore[method-assign]
        post = client.post_scans

        def timed_post(reads: list[dict[str, Any]]) -> list[dict[str, Any]]:
            clock.mark("sent")
            results = post(reads)
            clock.mark("answered")
            return results

        client.post_scans = timed_post  # type: ignore[method-assign]

        class Out(io.StringIO):
            def write(self, text: str) -> int:
                if " seen:" in text:
                    clock.mark("printed")
                return super().write(text)

        agent = StationAgent(reader, client, outbox, out=Out())
        runner = threading.Thread(target=agent.run, daemon=True)
        runner.start()
        vtag = VirtualTag(Ntag21x(uid=bytes.fromhex("04B0000000BE01")), stack.port(0, 0))
        samples = []
        for _ in range(n + 3):  # the first taps warm up pcscd, the server and the caches
            clock.marks = {}
            clock.mark("placed")
            vtag.place()
            wait_for(lambda: "printed" in clock.marks, 10, "the answer printed")
            samples.append({**clock.marks, "polled": vtag.poll_times[0]})
            vtag.lift()
            wait_for(lambda: stack.slot_empty(0, 0), 5, "pcscd to see the lift")
        agent.stop.set()
        runner.join()
        reader.close()
        client.close()
        outbox.close()
        outbox_dir.cleanup()
        return samples[3:]
    finally:
        service.destroy()
        stack.destroy()


def _tag_kind() -> tuple[Any, Any]:
    from readers.base import TagType, Technology

    return Technology.ISO14443A, TagType.NTAG213


def report(samples: list[dict[str, float]]) -> str:
    phases = {
        "poll wait (pcscd's 400 ms presence poll; not our software)": ("placed", "polled"),
        "reader stack: poll -> arrived event": ("polled", "arrived"),
        "agent: event -> outbox row durable": ("arrived", "durable"),
        "agent: durable -> request sent": ("durable", "sent"),
        "server: POST /api/v1/scans round trip": ("sent", "answered"),
        "agent: answer -> line printed": ("answered", "printed"),
        "software total: poll -> line printed": ("polled", "printed"),
    }
    lines = [
        f"{len(samples)} taps; {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {platform.machine()}",
        "",
        "| phase | median ms | p90 ms | max ms |",
        "|---|---:|---:|---:|",
    ]
    for name, (start, end) in phases.items():
        values = sorted((s[end] - s[start]) * 1000 for s in samples)
        p90 = values[min(len(values) - 1, int(len(values) * 0.9))]
        lines.append(f"| {name} | {statistics.median(values):.1f} | {p90:.1f} | "
                     f"{values[-1]:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(run(int(sys.argv[1]) if len(sys.argv) > 1 else 50)))
