"""The station agent end to end: virtual tag -> real pcscd -> agent process -> real service."""

from __future__ import annotations

import io
import os
import signal
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import pytest

from readers.agent import status_main
from readers.base import TagType, Technology
from readers.client import ServiceClient
from readers.emulators.tags import Ntag21x
from readers.emulators.vpcd import VirtualTag
from readers.outbox import Outbox
from tests.readers.agent_process import AgentProcess
from tests.readers.service import Service
from tests.readers.stacks import PcscStack
from tests.support.wait import wait_for

Place = Callable[..., VirtualTag]
Agents = Callable[..., AgentProcess]


def _lift(pcsc: PcscStack, vtag: VirtualTag) -> None:
    """Lift the tag and wait until pcscd has seen it go (it polls every 400 ms)."""
    vtag.lift()
    if pcsc.running:
        wait_for(lambda: pcsc.slot_empty(0, 0), 5, "pcscd to see the tag lifted")


def _tap(pcsc: PcscStack, vtag: VirtualTag, agent: AgentProcess, seq: int) -> None:
    """Put the tag down, wait until the agent queued scan ``seq``, lift it again."""
    vtag.place()
    agent.wait_line(f"queued #{seq} ")
    _lift(pcsc, vtag)


class TestEndToEnd:
    def test_tag_on_reader_is_seen_on_the_service(
        self, service: Service, client: ServiceClient, agents: Agents, place: Place
    ) -> None:
        service.register("AGT0001")
        client.bind_tag("AGT0001", "04200000000001", Technology.ISO14443A, TagType.NTAG213)
        agent = agents()
        vtag = place(Ntag21x(uid=bytes.fromhex("04200000000001")))
        line = agent.wait_line("#1 04200000000001 seen:")
        # The agent prints the server's own sentence for the clerk, and the ACR122U beeps
        # once with a green blink (FF 00 40 A0 ...) while the tag still rests on it.
        assert "AGT0001" in line
        wait_for(lambda: vtag.leds, 10, "the reader's feedback")
        assert [(c.led_state, c.repetitions) for c in vtag.leds] == [(0xA0, 1)]
        [(seq, _)] = service.recorded_seqs(client_key(client), 1)
        assert seq == 1

    def test_unknown_tag(self, agents: Agents, place: Place) -> None:
        agent = agents()
        vtag = place(Ntag21x(uid=bytes.fromhex("04200000000002")))
        agent.wait_line("#1 04200000000002 unregistered_tag:")
        wait_for(lambda: vtag.leds, 10, "the reader's feedback")
        assert vtag.leds[0].led_state == 0x50  # red, three beeps: look at the screen


def client_key(client: ServiceClient) -> str:
    key: str = client._http.headers["X-API-Key"]
    return key


class TestRestLiftRetap:
    def test_resting_is_one_scan_and_retap_is_a_new_one(
        self, pcsc: PcscStack, service: Service, station_key: str, agents: Agents, place: Place
    ) -> None:
        agent = agents()
        vtag = place(Ntag21x(uid=bytes.fromhex("04200000000003")))
        agent.wait_line("#1 04200000000003")
        # Let pcscd poll the resting tag several more times: still one scan.
        polls = len(vtag.poll_times)
        wait_for(lambda: len(vtag.poll_times) >= polls + 3, 10, "three more presence polls")
        _lift(pcsc, vtag)
        vtag.place()
        agent.wait_line("#2 04200000000003")
        assert not [line for line in agent.lines if "queued #3" in line]
        assert [seq for seq, _ in service.recorded_seqs(station_key, 3)] == [1, 2]


class TestDelivery:
    def test_server_down_for_a_while(self, pcsc: PcscStack, service: Service, station_key: str,
                                     agents: Agents, place: Place) -> None:
        agent = agents()
        vtag = place(Ntag21x(uid=bytes.fromhex("04200000000004")))
        agent.wait_line("#1 04200000000004")
        _lift(pcsc, vtag)
        service.stop()
        for seq in (2, 3, 4):
            _tap(pcsc, vtag, agent, seq)
        assert "cannot be reached" in agent.wait_line("server unreachable:")
        assert "3 waiting" in agent.wait_line("queued #4")
        service.start()
        agent.wait_line("taking scans again")
        for seq in (2, 3, 4):
            agent.wait_line(f"#{seq} 04200000000004 unregistered_tag")
        recorded = service.recorded_seqs(station_key, 5)
        assert [seq for seq, _ in recorded] == [1, 2, 3, 4]
        assert len({event for _, event in recorded}) == 4

    @pytest.mark.slow
    def test_station_killed_mid_run(self, pcsc: PcscStack, service: Service, station_key: str,
                                    agents: Agents, place: Place) -> None:
        agent = agents()
        vtag = place(Ntag21x(uid=bytes.fromhex("04200000000005")))
        _tap(pcsc, vtag, agent, 1)
        agent.wait_line("#1 04200000000005 unregistered_tag")
        service.stop()
        _tap(pcsc, vtag, agent, 2)
        _tap(pcsc, vtag, agent, 3)
        agent.kill()
        # The same station restarts with the same outbox while the server is still down.
        agent = agents()
        agent.wait_line("2 scan(s) from before wait")
        _tap(pcsc, vtag, agent, 4)
        service.start()
        for seq in (2, 3, 4):
            agent.wait_line(f"#{seq} 04200000000005")
        recorded = service.recorded_seqs(station_key, 5)
        assert [seq for seq, _ in recorded] == [1, 2, 3, 4]
        assert len({event for _, event in recorded}) == 4

    def test_killed_after_the_server_recorded_but_before_the_outbox_forgot(
        self, service: Service, station_key: str, client: ServiceClient, agents: Agents,
        tmp_path: Path
    ) -> None:
        # What a kill between the server's commit and the outbox delete leaves behind.
        outbox = Outbox(tmp_path / "outbox.db")
        scan = outbox.add("04200000000006", "iso14443a", datetime.now(UTC))
        client.post_scans([scan.as_read()])
        outbox.close()
        agent = agents()
        agent.wait_line("#1 04200000000006 unregistered_tag (again)")
        wait_for(lambda: Outbox(tmp_path / "outbox.db").count() == 0, 10, "an empty outbox")
        recorded = service.recorded_seqs(station_key, 2)
        assert recorded == [(1, scan.event_id)]


    def test_a_replaced_outbox_continues_after_the_servers_numbers(
        self, service: Service, station_key: str, client: ServiceClient, agents: Agents,
        tmp_path: Path
    ) -> None:
        """An outbox file lost (or restored from an old backup) starts counting at 1 again;
        the agent must not let the service take its new scans for old ones."""
        lost = Outbox(tmp_path / "lost.db")
        earlier = [lost.add(f"0420000000001{n}", "iso14443a", datetime.now(UTC)) for n in (1, 2)]
        client.post_scans([s.as_read() for s in earlier])
        lost.close()
        fresh = Outbox(tmp_path / "outbox.db")
        scan = fresh.add("04200000000019", "iso14443a", datetime.now(UTC))
        assert scan.station_seq == 1  # the same number the service already holds
        fresh.close()
        agent = agents()
        agent.wait_line("1 unsent scan(s) carried sequence numbers the server already has")
        agent.wait_line("#3 04200000000019 unregistered_tag:")
        recorded = service.recorded_seqs(station_key, 3)
        assert recorded == [(1, earlier[0].event_id), (2, earlier[1].event_id), (3, scan.event_id)]


@pytest.mark.slow
class TestPcscdRestart:
    def test_agent_keeps_scanning_across_a_pcscd_restart(
        self, pcsc: PcscStack, service: Service, station_key: str, agents: Agents,
        place: Place
    ) -> None:
        agent = agents()
        vtag = place(Ntag21x(uid=bytes.fromhex("04200000000007")))
        agent.wait_line("#1 04200000000007")
        pcsc.stop(signal.SIGKILL)
        agent.wait_line("reader: The PC/SC service (pcscd) is not running")
        vtag.lift()
        pcsc.start()
        vtag.place()
        agent.wait_line("#2 04200000000007", timeout=30)
        assert [seq for seq, _ in service.recorded_seqs(station_key, 3)] == [1, 2]


class TestRefusedKey:
    def test_wrong_key_keeps_scans_and_says_why(self, pcsc: PcscStack, service: Service,
                                                place: Place, tmp_path: Path) -> None:
        agent = AgentProcess(reader="pcsc://", server=service.url, key="mtk_not_a_key",
                             outbox=tmp_path / "outbox.db", env=pcsc.env,
                             extra=("--max-backoff", "1"))
        agent.start()
        try:
            place(Ntag21x(uid=bytes.fromhex("04200000000008")))
            line = agent.wait_line("server refused (HTTP 401): The station's API key was refused")
            assert "1 scan(s) waiting" in line
        finally:
            agent.stop()
        outbox = Outbox(tmp_path / "outbox.db")
        assert outbox.count() == 1  # kept for when the key is fixed
        outbox.close()


class TestStationClock:
    def test_a_flat_clock_battery_does_not_stall_the_station(
        self, pcsc: PcscStack, service: Service, client: ServiceClient, agents: Agents,
        place: Place, tmp_path: Path
    ) -> None:
        """A scan dated 1970 (the clock before it synced) waits in the outbox; the real service
        takes it, flagged, and the tap after it goes through as usual."""
        service.register("AGT0009")
        client.bind_tag("AGT0009", "04200000000009", Technology.ISO14443A, TagType.NTAG213)
        outbox = Outbox(tmp_path / "outbox.db")
        outbox.add("04200000000009", "iso14443a", datetime(1970, 1, 1, tzinfo=UTC))
        outbox.close()
        agent = agents()
        line = agent.wait_line("#1 04200000000009 seen:")
        assert "clock is wrong" in line
        agent.wait_line("warning: the server says this station's clock is wrong")
        status = io.StringIO()
        with_key = {"MEDIATRACK_STATION_KEY": client_key(client)}
        with mock.patch.dict(os.environ, with_key):
            code = status_main(["--outbox", str(tmp_path / "outbox.db"),
                                "--server", service.url], out=status)
        assert code == 0
        assert "last scan received #1" in status.getvalue()
        assert "The station's clock is wrong" in status.getvalue()
        place(Ntag21x(uid=bytes.fromhex("04200000000009")))
        assert "clock is wrong" not in agent.wait_line("#2 04200000000009 seen:")
        wait_for(lambda: Outbox(tmp_path / "outbox.db").count() == 0, 10, "an empty outbox")
        assert not [line for line in agent.lines if "refused" in line or "unreachable" in line]
