"""The agent's rules in process, on sim:// with a scripted server for what a real one won't do.

The real-service behaviour is in test_agent.py; here: repeated events, label checks and a
server that answers 413, or refuses one read of a batch with 422 (the real service gives such a
read its own answer; a refusal stands in for a future server that cannot).
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from readers.agent import StationAgent, status_main
from readers.backends.sim import SimReader
from readers.base import EventKind, TagEvent, TagType, Technology
from readers.carrier_label import CarrierLabel, encode_label
from readers.client import ServiceClient
from readers.emulators.tags import Ntag21x
from readers.outbox import Outbox
from tests.support.wait import wait_for

KEYS = {1: bytes(32)}


class ScriptedServer:
    """Answers POST /scans (and GET /stations/me) as the contract says; or 413 for large
    bodies, or garbage."""

    def __init__(self) -> None:
        self.requests: list[list[dict[str, Any]]] = []
        self.max_reads: int | None = None
        self.garble = False
        self.refuse: set[str] = set()  # tag UIDs whose batch is answered 422
        self.proxy_400 = False  # a proxy in the way answers a plain-HTML 400
        self.throttle = 0  # this many POSTs are answered 429 with Retry-After: 1
        self.posted_at: list[float] = []  # when each POST came, answered or not
        self.label_jobs: list[dict[str, Any]] = []  # offered until reported
        self.label_reports: list[tuple[int, dict[str, Any]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.garble:
            return httpx.Response(200, text="<html>proxy login</html>")
        if request.url.path.endswith("/tags/label-jobs"):
            return httpx.Response(200, json={"data": self.label_jobs})
        if "/tags/label-jobs/" in request.url.path:
            job_id = int(request.url.path.rsplit("/", 1)[1])
            self.label_reports.append((job_id, json.loads(request.content)))
            self.label_jobs = [j for j in self.label_jobs if j["id"] != job_id]
            return httpx.Response(200, json={"id": job_id, "label": "NEW1", "state": "written",
                                             "reason": None})
        if request.url.path.endswith("/stations/me"):
            seqs = [r["station_seq"] for batch in self.requests for r in batch]
            return httpx.Response(200, json={"name": "desk", "last_seq": max(seqs, default=0)})
        self.posted_at.append(time.monotonic())
        if self.throttle:
            self.throttle -= 1
            return httpx.Response(429, headers={"Retry-After": "1"}, json={
                "error": "too_many_requests", "detail": "send these again in 1 seconds."})
        reads = json.loads(request.content)["reads"]
        if self.max_reads is not None and len(reads) > self.max_reads:
            return httpx.Response(413, json={"error": "PayloadTooLarge", "detail": "too big"})
        if self.proxy_400:
            return httpx.Response(400, text="<html>400 plain HTTP to an HTTPS port</html>")
        if any(r["tag_uid"] in self.refuse for r in reads):
            return httpx.Response(422, json={"error": "invalid_input",
                                             "detail": "reads.0.tag_uid: not a tag UID."})
        self.requests.append(reads)
        return httpx.Response(200, json={"results": [
            {"event_id": r["event_id"], "station_seq": r["station_seq"], "outcome": "seen",
             "replayed": False, "message": f"Seen {r['tag_uid']}.", "carrier": None,
             "actions": []} for r in reads
        ]})


@pytest.fixture
def server() -> ScriptedServer:
    return ScriptedServer()


@pytest.fixture
def agent(server: ScriptedServer, tmp_path: Path) -> Iterator[StationAgent]:
    reader = SimReader()
    client = ServiceClient("http://station.test", "key", transport=httpx.MockTransport(server))
    outbox = Outbox(tmp_path / "outbox.db")
    agent = StationAgent(reader, client, outbox, out=io.StringIO(), site_keys=KEYS,
                         batch=8)
    yield agent
    agent.stop.set()
    reader.close()
    client.close()
    outbox.close()


def _output(agent: StationAgent) -> str:
    assert isinstance(agent.out, io.StringIO)
    return agent.out.getvalue()


def _arrived(uid: str, reader: str = "r0") -> TagEvent:
    return TagEvent(EventKind.ARRIVED, reader, uid=uid, technology=Technology.ISO14443A)


class TestRestLiftRule:
    def test_repeated_arrival_of_a_resting_tag_is_not_a_scan(self, agent: StationAgent) -> None:
        assert agent.handle(_arrived("04A1")) is not None
        assert agent.handle(_arrived("04A1")) is None
        assert agent.handle(_arrived("04B2", reader="r1")) is not None  # another slot
        agent.handle(TagEvent(EventKind.REMOVED, "r0", uid="04A1"))
        assert agent.handle(_arrived("04A1")) is not None
        assert agent.outbox.count() == 3

    def test_reader_errors_are_printed(self, agent: StationAgent) -> None:
        agent.handle(TagEvent(EventKind.ERROR, "r0", message="pcscd is not running."))
        assert "reader: pcscd is not running." in _output(agent)


class TestSending:
    def test_413_halves_the_batch(self, agent: StationAgent, server: ScriptedServer) -> None:
        server.max_reads = 3
        for i in range(10):
            agent.handle(_arrived(f"04{i:02X}"))
            agent.handle(TagEvent(EventKind.REMOVED, "r0", uid=f"04{i:02X}"))
        runner = threading.Thread(target=agent.run)
        runner.start()
        wait_for(lambda: agent.outbox.count() == 0, 20, "every scan acknowledged")
        agent.stop.set()
        runner.join()
        sent = [r["station_seq"] for request in server.requests for r in request]
        assert sent == list(range(1, 11))  # in order, each once
        assert max(len(request) for request in server.requests) <= 3
        assert "#10 0409 seen: Seen 0409." in _output(agent)


    def test_a_refused_read_is_set_aside_and_the_rest_go_on(
        self, agent: StationAgent, server: ScriptedServer, tmp_path: Path
    ) -> None:
        server.refuse = {"04BAD0"}
        _tap_and_drain(agent, ["0401", "0402", "04BAD0", "0403", "0404"])
        delivered = [r["tag_uid"] for request in server.requests for r in request]
        assert sorted(delivered) == ["0401", "0402", "0403", "0404"]  # each once
        [dead] = agent.outbox.dead_letters()
        assert (dead.scan.station_seq, dead.scan.tag_uid) == (3, "04BAD0")
        assert dead.reason == "reads.0.tag_uid: not a tag UID."
        assert "#3 04BAD0 refused by the server: reads.0.tag_uid" in _output(agent)
        assert "unreachable" not in _output(agent)
        status = io.StringIO()
        assert status_main(["--outbox", str(tmp_path / "outbox.db")], out=status) == 0
        assert status.getvalue().splitlines() == [
            "0 scan(s) waiting to be sent.",
            "1 scan(s) refused by the server and kept aside (not sent again):",
            f"  #3 04BAD0 read {dead.scan.read_at}, refused {dead.refused_at}: "
            "reads.0.tag_uid: not a tag UID.",
        ]

    def test_a_429_is_sent_again_after_its_retry_after_not_set_aside(
        self, agent: StationAgent, server: ScriptedServer
    ) -> None:
        server.throttle = 2
        _tap_and_drain(agent, ["0401", "0402", "0403"])
        delivered = [r["tag_uid"] for request in server.requests for r in request]
        assert delivered == ["0401", "0402", "0403"]  # in order, each once
        assert agent.outbox.dead_letters() == []
        assert "server refused (HTTP 429)" in _output(agent)
        # Each retry waited the second it was told to (the backoff alone starts at 0.2 s).
        first, second, third = server.posted_at[:3]
        assert second - first >= 1 and third - second >= 1

    def test_a_proxys_400_is_not_a_refusal_of_the_scans(
        self, agent: StationAgent, server: ScriptedServer
    ) -> None:
        server.proxy_400 = True
        _run_until(agent, "server refused (HTTP 400)")
        assert agent.outbox.count() == 1 and agent.outbox.dead_letters() == []

    def test_a_garbled_answer_keeps_the_scans(self, agent: StationAgent,
                                              server: ScriptedServer) -> None:
        server.garble = True  # e.g. a captive portal or proxy answering in the server's place
        _run_until(agent, "does not understand")
        assert agent.outbox.count() == 1


def _run_until(agent: StationAgent, complaint: str) -> None:
    """Queue one scan, run the agent until it prints ``complaint``, stop it."""
    agent.handle(_arrived("04A1"))
    runner = threading.Thread(target=agent.run)
    runner.start()
    try:
        wait_for(lambda: complaint in _output(agent), 10, "the complaint")
    finally:
        agent.stop.set()
        runner.join()


class TestLabelCheck:
    def test_genuine_label_is_quiet_and_copied_one_warns(self, agent: StationAgent) -> None:
        reader = agent.reader
        assert isinstance(reader, SimReader)
        genuine = Ntag21x(TagType.NTAG213, bytes.fromhex("04000000000001"))
        copy = Ntag21x(TagType.NTAG213, bytes.fromhex("04000000000002"))
        label = encode_label(CarrierLabel("DVD0001", "DVD"), uid="04000000000001",
                             public_url="https://mt.example", key=KEYS[1])
        for tag in (genuine, copy):
            event = reader.place(tag)
            with reader.session(event) as session:
                session.write_ndef(label)
            agent.handle(event)
        assert _output(agent).count("warning:") == 1
        assert "warning: Label of DVD0001 was edited or copied" in _output(agent)


class TestLabelJobs:
    def test_a_job_for_the_resting_tag_is_written_read_back_and_reported(
        self, agent: StationAgent, server: ScriptedServer
    ) -> None:
        reader = agent.reader
        assert isinstance(reader, SimReader)
        tag = Ntag21x(TagType.NTAG213, bytes.fromhex("04000000000009"))
        label = encode_label(CarrierLabel("NEW1", "BD"), uid="04000000000009",
                             public_url="https://mt.example", key=KEYS[1])
        # A job for a tag that is not on the reader waits; the one for the resting tag is done.
        server.label_jobs = [
            {"id": 4, "tag_uid": "04000000000008", "label": "OTHER", "ndef": label.hex()},
            {"id": 5, "tag_uid": "04000000000009", "label": "NEW1", "ndef": label.hex()},
        ]
        resting = reader.place(tag)
        runner = threading.Thread(target=agent.run)
        runner.start()
        try:
            wait_for(lambda: server.label_reports, 10, "the label job's report")
        finally:
            agent.stop.set()
            runner.join()
        assert server.label_reports == [(5, {"written": True, "reason": None})]
        with reader.session(resting) as session:
            assert session.read_ndef() == label
        assert "label NEW1 written on 04000000000009" in _output(agent)

    def test_no_tag_resting_no_asking(self, agent: StationAgent, server: ScriptedServer) -> None:
        calls: list[str] = []
        transport = server

        def counting(request: httpx.Request) -> httpx.Response:
            calls.append(request.url.path)
            return transport(request)

        agent.client = ServiceClient("http://station.test", "key",
                                     transport=httpx.MockTransport(counting))
        _tap_and_drain(agent, ["04A1"])  # tapped and lifted before the agent runs
        assert not [c for c in calls if "label-jobs" in c]


def _tap_and_drain(agent: StationAgent, uids: list[str]) -> None:
    """Tap and lift each tag, then run the agent until its outbox is empty."""
    for uid in uids:
        agent.handle(_arrived(uid))
        agent.handle(TagEvent(EventKind.REMOVED, "r0", uid=uid))
    runner = threading.Thread(target=agent.run)
    runner.start()
    try:
        wait_for(lambda: agent.outbox.count() == 0, 20, "the queue to drain")
    finally:
        agent.stop.set()
        runner.join()
