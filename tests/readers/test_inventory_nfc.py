"""Inventory mode end to end: emulated tags -> real nfcpy (udp driver) -> the agent as its own
process (``mediatrack station run --mode inventory``) -> a real ``mediatrack serve`` on a copy of
the demo archive; the classes checked in the campaign's report and in what the agent printed.
Once also on the PC/SC stack (real pcscd with vpcd): any reader URL sweeps alike.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from readers.emulators.vpcd import VirtualTag
from readers.outbox import Outbox
from tests.readers.agent_process import AgentProcess
from tests.readers.inventory_sweep import (
    SHELF,
    SHELF_UID,
    UNKNOWN_UID,
    Agents,
    Api,
    ntag,
    tap,
    udp_tag,
)
from tests.readers.stacks import PcscStack
from tests.support.browser import Site
from tests.support.ports import free_port
from tests.support.wait import wait_for


class TestSweep:
    def test_shelf_then_carriers_get_their_classes(self, api: Api, sweep_agents: Agents,
                                                   port: int) -> None:
        campaign = api.campaign()
        [(home_label, home_uid), *_] = api.stored_carriers(SHELF)
        [(other_label, other_uid), *_] = api.stored_carriers("CAB01_S3")
        expected = api.shelf(campaign, SHELF)["expected"]
        agent = sweep_agents(campaign)
        assert "tap the shelf's tag first" in agent.wait_line("Sweep session ")

        tap(agent, udp_tag(SHELF_UID, port), port)
        assert not agent.wait_line(f"SHELF {SHELF_UID}").endswith("\a")
        tap(agent, udp_tag(home_uid, port, home_label), port)
        agent.wait_line(f"FOUND {home_uid} {home_label}: ")
        tap(agent, udp_tag(other_uid, port, other_label), port)
        assert agent.wait_line(f"MISPLACED {other_uid} {other_label}: ").endswith("\a")
        tap(agent, udp_tag(UNKNOWN_UID, port), port)
        unknown = agent.wait_line(f"UNKNOWN {UNKNOWN_UID}")
        assert unknown.endswith("\a")
        agent.wait_line(f"Shelf 2 ({SHELF}): 1 of {expected} seen",
                        after=agent.lines.index(unknown))

        shelf = api.shelf(campaign, SHELF)
        classes = {item["label"]: item["class"] for item in shelf["items"]}
        assert classes[home_label] == "found"
        assert classes[other_label] == "misplaced"
        assert shelf["state"] in ("in_progress", "swept")
        report = api.report(campaign)
        assert [u["tag_uid"] for u in report["unknown"]] == [UNKNOWN_UID]
        assert report["altered"] == []  # the labels were genuine, records and all
        assert not [line for line in agent.lines if "unreachable" in line or "refused" in line]

    def test_a_copied_label_is_reported_altered(self, api: Api, sweep_agents: Agents,
                                                port: int) -> None:
        campaign = api.campaign()
        [(home_label, home_uid), (second_label, second_uid), *_] = api.stored_carriers(SHELF)
        agent = sweep_agents(campaign)
        tap(agent, udp_tag(SHELF_UID, port), port)
        agent.wait_line(f"SHELF {SHELF_UID}")
        # The second carrier's tag, holding a copy of the first one's label.
        tap(agent, udp_tag(second_uid, port, home_label, signed_for=home_uid), port)
        assert agent.wait_line(f"ALTERED {second_uid}").endswith("\a")
        assert [a["tag_uid"] for a in api.report(campaign)["altered"]] == [second_uid]
        # The genuine one is no alarm.
        tap(agent, udp_tag(home_uid, port, home_label), port)
        agent.wait_line(f"FOUND {home_uid} {home_label}: ")
        assert second_label != home_label


class TestDelivery:
    def test_killed_before_delivery_then_restarted_delivers_once(
        self, api: Api, sweep_agents: Agents, port: int, tmp_path: Path
    ) -> None:
        campaign = api.campaign()
        [(label, uid), *_] = api.stored_carriers(SHELF)
        nowhere = f"http://127.0.0.1:{free_port()}"  # the server out of reach
        first = sweep_agents(campaign, nowhere)
        session = first.wait_line("Sweep session ").split()[2]
        tap(first, udp_tag(SHELF_UID, port), port)
        first.wait_line("1 read waiting: server unreachable")
        assert "(2 reads waiting: server unreachable" in tap(first, udp_tag(uid, port, label), port)
        first.kill()  # queued, never delivered
        outbox = Outbox(tmp_path / "outbox.db")
        queued = [read.as_inventory_read() for read in outbox.pending(10)]
        outbox.close()
        assert [r["tag_uid"] for r in queued] == [SHELF_UID, uid]

        second = sweep_agents(campaign)
        assert second.wait_line("Sweep session ").split()[2] == session  # the same sweep
        second.wait_line(f"SHELF {SHELF_UID}")
        found = second.wait_line(f"FOUND {uid} {label}: ")
        assert "(again)" not in found
        wait_for(lambda: Outbox(tmp_path / "outbox.db").count() == 0, 10, "an empty outbox")

        counts = api.report(campaign)["campaign"]["counts"]
        again = api.post_reads(campaign, queued)  # a second delivery of the same events
        assert [r["replayed"] for r in again["results"]] == [True, True]
        assert [r["class"] for r in again["results"]] == ["shelf", "found"]
        assert api.report(campaign)["campaign"]["counts"] == counts
        assert api.shelf(campaign, SHELF)["counts"].get("found") == 1


class TestCampaignRefused:
    @pytest.mark.parametrize("closed", [False, True], ids=["unknown", "closed"])
    def test_the_agent_says_why_and_exits(self, api: Api, sweep_agents: Agents, port: int,
                                          closed: bool) -> None:
        if closed:
            campaign = api.campaign()
            answer = api.http.post(f"/inventory/campaigns/{campaign}/close", json={})
            assert answer.status_code == 200, answer.text
        else:
            campaign = 999_999
        agent = sweep_agents(campaign)
        tag = udp_tag(SHELF_UID, port)
        tag.place()
        said = agent.wait_line("read(s) of it kept aside")
        tag.lift()
        assert "1 read(s) of it kept aside" in said
        assert agent.process is not None
        assert agent.process.wait(timeout=20) == 1
        assert any(line.startswith("Stopped: ") for line in agent.lines)


class TestOnPcsc:
    def test_a_pcsc_reader_sweeps_alike(self, api: Api, site: Site, pcsc: PcscStack,
                                        place: Callable[..., VirtualTag],
                                        tmp_path: Path) -> None:
        campaign = api.campaign()
        [(label, uid), *_] = api.stored_carriers(SHELF)
        agent = AgentProcess(reader="pcsc://", server=site.url, key=site.station_key,
                             outbox=tmp_path / "outbox.db", env=pcsc.env,
                             extra=("--mode", "inventory", "--campaign", str(campaign)))
        agent.start()
        try:
            # Placed by hand: ``place`` lifts its tags only at the end, in order.
            shelf = VirtualTag(ntag(SHELF_UID), pcsc.port())
            shelf.place()
            try:
                agent.wait_line(f"SHELF {SHELF_UID}")
            finally:
                shelf.lift()
            wait_for(lambda: pcsc.slot_empty(0, 0), 5, "pcscd to see the shelf tag lifted")
            place(ntag(uid, label))
            assert "(again)" not in agent.wait_line(f"FOUND {uid} {label}: ")
        finally:
            agent.stop()
        classes = {i["label"]: i["class"] for i in api.shelf(campaign, SHELF)["items"]}
        assert classes[label] == "found"
        assert api.report(campaign)["altered"] == []  # the label's records came through
