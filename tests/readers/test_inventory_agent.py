"""Inventory mode in process: the outbox's inventory reads and its old files, the NDEF records
the agent sends, and the agent on sim:// against a scripted server for what a real one will not
do on demand (go away, close the campaign under a running agent).

The agent against the real service on the real nfcpy stack: test_inventory_nfc.py.
"""

from __future__ import annotations

import io
import json
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import ndef
import pytest

from readers.agent import StationAgent, main, status_main
from readers.backends.sim import SimReader
from readers.carrier_label import (
    EXTERNAL_TYPE,
    CarrierLabel,
    LabelCheck,
    decode_label,
    encode_label,
    web_nfc_records,
)
from readers.client import ServiceClient
from readers.emulators.tags import Ntag21x
from readers.outbox import Outbox
from tests.support.wait import wait_for

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
KEY = bytes(range(32))
PUBLIC_URL = "https://mt.example"
SHELF_UID, CARRIER_UID, STRANGER_UID = "04AA0102000001", "04000000000C80", "04000000000D80"

# The outbox's layout before inventory mode (user_version 0), as older agents left it.
OLD_SCHEMA = """
CREATE TABLE scan (station_seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE,
    tag_uid TEXT NOT NULL, technology TEXT NOT NULL, read_at TEXT NOT NULL);
CREATE TABLE counter (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO counter VALUES ('last_station_seq', 2);
CREATE TABLE dead_letter (station_seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE,
    tag_uid TEXT NOT NULL, technology TEXT NOT NULL, read_at TEXT NOT NULL,
    reason TEXT NOT NULL, refused_at TEXT NOT NULL);
INSERT INTO scan VALUES (2, 'e2', '04000000000002', 'iso14443a', '2026-11-28T13:00:00+00:00');
INSERT INTO dead_letter VALUES (1, 'e1', '04000000000001', 'iso14443a',
    '2026-11-28T12:00:00+00:00', 'The read is not a read.', '2026-11-28T12:00:01+00:00');
"""


class TestOutbox:
    def test_an_old_file_is_brought_up_to_date_with_its_scans(self, tmp_path: Path) -> None:
        path = tmp_path / "outbox.db"
        with sqlite3.connect(path) as old:
            old.executescript(OLD_SCHEMA)
        outbox = Outbox(path)
        [scan] = outbox.pending(10)
        assert (scan.event_id, scan.station_seq, scan.campaign_id, scan.records) == (
            "e2", 2, None, ())
        [dead] = outbox.dead_letters()
        assert (dead.scan.event_id, dead.reason) == ("e1", "The read is not a read.")
        sweep = outbox.sweep(7, NOW)
        read = outbox.add(CARRIER_UID, "iso14443a", NOW, sweep=sweep,
                          records=(("url", "6869"),))
        assert read.station_seq == 3  # the counter goes on
        outbox.close()
        reopened = Outbox(path)  # a second opening migrates nothing again
        assert reopened._db.execute("PRAGMA user_version").fetchone() == (1,)
        assert reopened.waiting() == {None: 1, 7: 1}
        assert reopened.pending(10)[0].event_id == "e2"
        reopened.close()

    def test_one_request_holds_one_kind(self, tmp_path: Path) -> None:
        outbox = Outbox(tmp_path / "outbox.db")
        first, second = outbox.sweep(1, NOW), outbox.sweep(2, NOW)
        desk = [outbox.add("04000000000001", "iso14443a", NOW) for _ in range(2)]
        of_first = [outbox.add(CARRIER_UID, "iso14443a", NOW, sweep=first) for _ in range(2)]
        of_second = outbox.add(CARRIER_UID, "iso14443a", NOW, sweep=second)
        later_desk = outbox.add("04000000000001", "iso14443a", NOW)
        batches = []
        while pending := outbox.pending(10):
            batches.append(pending)
            outbox.acknowledge([s.event_id for s in pending])
        assert batches == [desk, of_first, [of_second], [later_desk]]
        outbox.close()

    def test_the_sweep_session_is_kept_per_campaign(self, tmp_path: Path) -> None:
        path = tmp_path / "outbox.db"
        outbox = Outbox(path)
        sweep = outbox.sweep(4, NOW)
        assert uuid.UUID(sweep.session) and sweep.shelf is None
        outbox.keep_shelf(4, "Shelf 2 (CAB01_S2): 1 of 3 seen")
        assert outbox.sweep(5, NOW).session != sweep.session
        outbox.close()
        reopened = Outbox(path)
        again = reopened.sweep(4, datetime.now(UTC))
        assert (again.session, again.started_at) == (sweep.session, sweep.started_at)
        assert again.shelf == "Shelf 2 (CAB01_S2): 1 of 3 seen"
        reopened.close()

    def test_a_closed_campaigns_reads_are_kept_aside(self, tmp_path: Path) -> None:
        outbox = Outbox(tmp_path / "outbox.db")
        sweep = outbox.sweep(3, NOW)
        desk = outbox.add("04000000000001", "iso14443a", NOW)
        reads = [outbox.add(CARRIER_UID, "iso14443a", NOW, sweep=sweep,
                            records=(("mediatrack:carrier", "01"),)) for _ in range(2)]
        assert outbox.bury_campaign(3, "The campaign is closed.", NOW) == 2
        assert outbox.pending(10) == [desk]
        assert [d.scan for d in outbox.dead_letters()] == reads  # records and all
        outbox.close()


class TestWebNfcRecords:
    def test_the_service_rebuilds_a_genuine_label_from_them(self) -> None:
        label = encode_label(CarrierLabel("RAD0000012", "DVD"), uid=CARRIER_UID,
                             public_url=PUBLIC_URL, key=KEY)
        # A tag may hold more records than ours; they are left out.
        message = b"".join(ndef.message_encoder(
            [*ndef.message_decoder(label), ndef.TextRecord("shelf 2")]))
        records = web_nfc_records(message)
        assert [kind for kind, _ in records] == ["url", "mediatrack:carrier"]
        assert bytes.fromhex(records[0][1]) == f"{PUBLIC_URL}/c/RAD0000012".encode()
        # What the contract says the service does: one record per entry, in order.
        rebuilt = b"".join(ndef.message_encoder([
            ndef.UriRecord(bytes.fromhex(records[0][1]).decode()),
            ndef.Record(EXTERNAL_TYPE, "", bytes.fromhex(records[1][1])),
        ]))
        assert decode_label(rebuilt, uid=CARRIER_UID, keys={1: KEY}).check is (
            LabelCheck.GENUINE)

    def test_other_records_and_broken_messages_give_nothing(self) -> None:
        text = b"".join(ndef.message_encoder([ndef.TextRecord("shelf 2")]))
        assert web_nfc_records(text) == []
        assert web_nfc_records(b"") == []
        assert web_nfc_records(b"\xd1\x01\xff") == []  # a record longer than the message


class InventoryServer:
    """Answers POST /inventory/campaigns/{id}/reads as the contract says, placing carriers on
    the session's shelf; can be down, or say the campaign is closed."""

    def __init__(self) -> None:
        self.bodies: list[tuple[int, list[dict[str, Any]]]] = []
        self.answered: dict[str, dict[str, Any]] = {}
        self.seen: set[str] = set()
        self.down = False
        self.closed = False
        self.refuse: set[str] = set()  # tag UIDs whose batch is answered 422

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        campaign = int(request.url.path.split("/")[-2])
        if self.closed:
            return httpx.Response(409, json={"error": "conflict",
                                             "detail": f"Campaign {campaign} is closed."})
        reads = json.loads(request.content)["reads"]
        if any(r["tag_uid"] in self.refuse for r in reads):
            return httpx.Response(422, json={"error": "invalid_input",
                                             "detail": "reads.0.tag_uid: not a tag UID."})
        self.bodies.append((campaign, reads))
        results = [self._answer(read) for read in reads]
        shelf = {"code": "CAB01_S2", "path": "City Hospital / Cabinet 1 / Shelf 2",
                 "expected": 3, "seen": len(self.seen)}
        return httpx.Response(200, json={"counts": {}, "results": results, "shelf": shelf,
                                         "received_at": NOW.isoformat()})

    def _answer(self, read: dict[str, Any]) -> dict[str, Any]:
        if read["event_id"] in self.answered:
            return {**self.answered[read["event_id"]], "replayed": True}
        uid = read["tag_uid"]
        answer: dict[str, Any]
        if uid == SHELF_UID:
            answer = {"class": "shelf", "label": None, "message": "Shelf 2 of Cabinet 1."}
        elif uid == CARRIER_UID:
            answer = {"class": "found", "label": "RAD0000012", "message": "On its shelf.",
                      "duplicate": uid in self.seen}
            self.seen.add(uid)
        else:
            answer = {"class": "misplaced", "label": "RAD0000013",
                      "message": "Its shelf is Cabinet 3 / Shelf 1."}
        answer.update(event_id=read["event_id"], replayed=False, shelf="CAB01_S2")
        self.answered[read["event_id"]] = answer
        return answer


@pytest.fixture
def server() -> InventoryServer:
    return InventoryServer()


Agents = Callable[..., StationAgent]


@pytest.fixture
def agents(server: InventoryServer, tmp_path: Path) -> Iterator[Agents]:
    """Start inventory agents on sim:// (campaign 7 unless told), each in its own thread,
    sharing this test's outbox file; all stopped afterwards."""
    running: list[tuple[StationAgent, threading.Thread]] = []

    def _start(campaign: int = 7) -> StationAgent:
        client = ServiceClient("http://station.test", "key",
                               transport=httpx.MockTransport(server))
        agent = StationAgent(SimReader(), client, Outbox(tmp_path / "outbox.db"),
                             out=io.StringIO(), campaign=campaign, max_backoff=0.2)
        thread = threading.Thread(target=agent.run)
        thread.start()
        running.append((agent, thread))
        return agent

    yield _start
    for agent, thread in running:
        agent.stop.set()
        thread.join()
        agent.reader.close()
        agent.client.close()
        agent.outbox.close()


def _out(agent: StationAgent) -> str:
    assert isinstance(agent.out, io.StringIO)
    return agent.out.getvalue()


def _said(agent: StationAgent, text: str) -> None:
    wait_for(lambda: text in _out(agent), 10, f"the agent to say {text!r}")


def _tap(agent: StationAgent, uid: str, message: bytes = b"") -> None:
    """Place a tag holding ``message`` until the agent has queued its read, then lift it."""
    assert isinstance(agent.reader, SimReader)
    tag = Ntag21x(uid=bytes.fromhex(uid))
    if message:
        with SimReader() as labeller:  # a labelling desk wrote it
            with labeller.session(labeller.place(tag)) as session:
                session.write_ndef(message)
    queued = _out(agent).count(f"queued {uid}")
    agent.reader.place(tag)
    wait_for(lambda: _out(agent).count(f"queued {uid}") > queued, 10, f"{uid} queued")
    agent.reader.lift()


class TestAgent:
    def test_reads_go_with_session_records_and_come_back_as_classes(
        self, agents: Agents, server: InventoryServer
    ) -> None:
        agent = agents()
        assert agent.sweep is not None
        label = encode_label(CarrierLabel("RAD0000012", "DVD"), uid=CARRIER_UID,
                             public_url=PUBLIC_URL, key=KEY)
        _tap(agent, SHELF_UID)
        _said(agent, "SHELF 04AA0102000001: Shelf 2 of Cabinet 1.")
        _tap(agent, CARRIER_UID, label)
        _said(agent, "FOUND 04000000000C80 RAD0000012: On its shelf.")
        _tap(agent, STRANGER_UID)
        _said(agent, "MISPLACED 04000000000D80 RAD0000013: Its shelf is Cabinet 3 / Shelf 1.\a")
        _tap(agent, CARRIER_UID, label)
        _said(agent, "FOUND 04000000000C80 RAD0000012: (read before in this sweep; counted "
                     "once) On its shelf.")
        _said(agent, "Shelf 2 (CAB01_S2): 1 of 3 seen")
        reads = [read for campaign, batch in server.bodies for read in batch]
        assert {campaign for campaign, _ in server.bodies} == {7}
        assert [r["tag_uid"] for r in reads] == [SHELF_UID, CARRIER_UID, STRANGER_UID,
                                                 CARRIER_UID]
        assert {r["session"] for r in reads} == {agent.sweep.session}
        assert {r["device"] for r in reads} == {"laptop"}
        assert "station_seq" not in reads[0]
        assert reads[0]["records"] == [] and reads[2]["records"] == []
        assert reads[1]["records"] == [{"type": t, "data": d} for t, d in web_nfc_records(label)]
        assert len({r["event_id"] for r in reads}) == 4
        assert "\a" not in _out(agent).split("MISPLACED")[0]  # found and shelf: no bell
        wait_for(lambda: agent.outbox.count() == 0, 10, "an empty outbox")

    def test_offline_reads_are_counted_then_delivered_once(
        self, agents: Agents, server: InventoryServer
    ) -> None:
        server.down = True
        agent = agents()
        _tap(agent, SHELF_UID)
        _said(agent, "1 read waiting: server unreachable:")
        _tap(agent, CARRIER_UID)
        _said(agent, "queued 04000000000C80 (2 reads waiting: server unreachable:")
        assert server.bodies == []
        server.down = False
        _said(agent, "server: taking reads again.")
        _said(agent, "FOUND 04000000000C80")
        wait_for(lambda: agent.outbox.count() == 0, 10, "an empty outbox")
        reads = [read["tag_uid"] for _, batch in server.bodies for read in batch]
        assert reads == [SHELF_UID, CARRIER_UID]

    def test_a_read_refused_alone_is_kept_aside_and_the_rest_go_on(
        self, agents: Agents, server: InventoryServer
    ) -> None:
        server.down = True  # so that the three wait and go in one batch
        server.refuse = {STRANGER_UID}
        agent = agents()
        for uid in (SHELF_UID, STRANGER_UID, CARRIER_UID):
            _tap(agent, uid)
        server.down = False
        _said(agent, f"{STRANGER_UID} refused by the server: reads.0.tag_uid: not a tag UID.")
        _said(agent, f"FOUND {CARRIER_UID}")
        delivered = [read["tag_uid"] for _, batch in server.bodies for read in batch]
        assert delivered == [SHELF_UID, CARRIER_UID]
        [dead] = agent.outbox.dead_letters()
        assert (dead.scan.tag_uid, dead.scan.campaign_id) == (STRANGER_UID, 7)

    def test_a_restart_goes_on_with_the_same_session_and_shelf(
        self, agents: Agents, server: InventoryServer
    ) -> None:
        first = agents()
        _tap(first, SHELF_UID)
        _said(first, "Shelf 2 (CAB01_S2): 0 of 3 seen")
        first.stop.set()
        wait_for(lambda: first.outbox.count() == 0, 10, "the shelf read delivered")
        second = agents()
        _said(second, "on Shelf 2 (CAB01_S2): 0 of 3 seen.")
        _tap(second, CARRIER_UID)
        _said(second, "FOUND 04000000000C80")
        sessions = [read["session"] for _, batch in server.bodies for read in batch]
        assert len(sessions) == 2 and len(set(sessions)) == 1
        other = agents(campaign=8)  # another campaign: another session
        assert other.sweep is not None and other.sweep.session != sessions[0]

    def test_a_closed_campaign_stops_the_agent(
        self, agents: Agents, server: InventoryServer, tmp_path: Path
    ) -> None:
        server.closed = True
        agent = agents()
        _tap(agent, SHELF_UID)
        wait_for(lambda: agent.failure is not None, 10, "the agent to give up")
        assert agent.failure == "Campaign 7 is closed."
        _said(agent, "campaign 7: Campaign 7 is closed. 1 read(s) of it kept aside")
        assert agent.stop.is_set() and agent.outbox.count() == 0
        status = io.StringIO()
        assert status_main(["--outbox", str(tmp_path / "outbox.db")], out=status) == 0
        [_, _, kept] = status.getvalue().splitlines()
        assert kept.startswith(f"  campaign 7 {SHELF_UID} read ")
        assert kept.endswith(": Campaign 7 is closed.")


class TestStatus:
    def test_inventory_reads_waiting_are_listed(self, tmp_path: Path) -> None:
        outbox = Outbox(tmp_path / "outbox.db")
        outbox.add("04000000000001", "iso14443a", NOW)
        for campaign, n in ((3, 2), (12, 1)):
            sweep = outbox.sweep(campaign, NOW)
            for _ in range(n):
                outbox.add(CARRIER_UID, "iso14443a", NOW, sweep=sweep)
        outbox.close()
        status = io.StringIO()
        assert status_main(["--outbox", str(tmp_path / "outbox.db")], out=status) == 0
        assert status.getvalue().splitlines() == [
            "1 scan(s) waiting to be sent.",
            "2 inventory read(s) of campaign 3 waiting to be sent.",
            "1 inventory read(s) of campaign 12 waiting to be sent.",
        ]


class TestCommandLine:
    @pytest.mark.parametrize(("args", "sentence"), [
        (["--mode", "inventory"], "Inventory mode needs the campaign: pass --campaign ID"),
        (["--campaign", "3"], "--campaign goes with --mode inventory"),
    ])
    def test_campaign_and_mode_go_together(self, args: list[str], sentence: str,
                                           tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
        argv = ["--reader", "sim://", "--server", "http://station.test",
                "--outbox", str(tmp_path / "outbox.db"), *args]
        assert main(argv) == 2
        assert sentence in capsys.readouterr().err
        assert not (tmp_path / "outbox.db").exists()  # refused before anything was opened
