"""Inventory mode end to end: emulated tags -> real nfcpy (udp driver) -> the agent as its own
process (``mediatrack station run --mode inventory``) -> a real ``mediatrack serve`` on a copy of
the demo archive; the classes checked in the campaign's report and in what the agent printed.
Once also on the PC/SC stack (real pcscd with vpcd): any reader URL sweeps alike.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from readers.backends.sim import SimReader
from readers.base import TagType
from readers.carrier_label import CarrierLabel, encode_label
from readers.emulators.tags import Ntag21x
from readers.emulators.udp import UdpTag
from readers.emulators.vpcd import VirtualTag
from readers.outbox import Outbox
from tests.readers.agent_process import AgentProcess
from tests.readers.stacks import PcscStack
from tests.support.browser import PASSWORD, Site, start_site
from tests.support.ports import free_port
from tests.support.wait import wait_for

SITE_KEY = bytes(range(100, 132))
SHELF = "CAB01_S2"
SHELF_UID = "04AA0102000001"  # app/demo.py: 04AA{cab}{shelf}0000{cab}
UNKNOWN_UID = "04FEED00000001"  # registered to nothing
# nfcpy's udp driver senses Type A with SENS_REQ (ISO/IEC 14443-3 §6.3: REQA 26, WUPA 52).
SENSE_FRAMES = (b"106A 26", b"106A 52")


@pytest.fixture
def site(demo_archive: Path, tmp_path: Path) -> Iterator[Site]:
    """The demo archive served with a site key, so labels are checked."""
    keys = tmp_path / "site.keys"
    keys.write_text(f"1 {SITE_KEY.hex()}\n")
    running = start_site(demo_archive, tmp_path / "data", SITE_KEYS_FILE=str(keys))
    yield running
    running.stop()


class Api:
    """The service's API as the clerk who runs the campaign, and as the station."""

    def __init__(self, site: Site) -> None:
        self.site = site
        token = httpx.post(f"{site.url}/api/v1/auth/token",
                           data={"username": "clerk", "password": PASSWORD}, timeout=10)
        token.raise_for_status()
        self.http = httpx.Client(base_url=f"{site.url}/api/v1", timeout=30, headers={
            "Authorization": f"Bearer {token.json()['access_token']}"})

    def campaign(self, scope: str = "CAB01") -> int:
        answer = self.http.post("/inventory/campaigns", json={
            "name": "Cabinet 1, laptop sweep", "scope": scope,
            "starts_on": date.today().isoformat(),
            "ends_on": (date.today() + timedelta(days=7)).isoformat()})
        assert answer.status_code == 201, answer.text
        campaign_id: int = answer.json()["id"]
        return campaign_id

    def report(self, campaign_id: int) -> dict[str, Any]:
        answer = self.http.get(f"/inventory/campaigns/{campaign_id}/report")
        assert answer.status_code == 200, answer.text
        report: dict[str, Any] = answer.json()
        return report

    def shelf(self, campaign_id: int, code: str) -> dict[str, Any]:
        return next(s for s in self.report(campaign_id)["shelves"] if s["code"] == code)

    def stored_carriers(self, code: str) -> list[tuple[str, str]]:
        """(label, tag UID) of the carriers in storage on a shelf with a 7-byte tag (NTAG: the
        udp emulator's kind), as the record says before the sweep."""
        answer = self.http.get("/carriers", params={"status": "in_storage", "location": code,
                                                    "limit": 500})
        assert answer.status_code == 200, answer.text
        return [(c["label"], c["tag"]["uid"]) for c in answer.json()["data"]
                if c["location"]["code"] == code and c["tag"] and len(c["tag"]["uid"]) == 14]

    def post_reads(self, campaign_id: int, reads: list[dict[str, Any]]) -> dict[str, Any]:
        """As the station: POST the reads again."""
        answer = httpx.post(f"{self.site.url}/api/v1/inventory/campaigns/{campaign_id}/reads",
                            json={"reads": reads}, headers={"X-API-Key": self.site.station_key},
                            timeout=30)
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def api(site: Site) -> Iterator[Api]:
    client = Api(site)
    yield client
    client.close()


@pytest.fixture
def port() -> int:
    return free_port(socket.SOCK_DGRAM)


Agents = Callable[..., AgentProcess]


@pytest.fixture
def agents(site: Site, port: int, tmp_path: Path) -> Iterator[Agents]:
    """Start inventory agents on this test's udp reader and outbox; all stopped afterwards."""
    started: list[AgentProcess] = []

    def _start(campaign_id: int, server: str | None = None) -> AgentProcess:
        agent = AgentProcess(
            reader=f"nfc://udp:127.0.0.1:{port}", server=server or site.url,
            key=site.station_key, outbox=tmp_path / "outbox.db", env=dict(os.environ),
            extra=("--max-backoff", "0.5", "--mode", "inventory",
                   "--campaign", str(campaign_id)))
        agent.start()
        started.append(agent)
        return agent

    yield _start
    for agent in started:
        agent.stop()


def _ntag(uid: str, label: str | None = None, *, signed_for: str = "") -> Ntag21x:
    """An NTAG213 with the label of ``label`` when given: genuine, or signed for another tag's
    UID (``signed_for``: a label copied from that tag)."""
    ntag = Ntag21x(TagType.NTAG213, bytes.fromhex(uid))
    if label is not None:
        message = encode_label(CarrierLabel(label, "DVD"), uid=signed_for or uid,
                               public_url="https://archive.example", key=SITE_KEY)
        with SimReader() as labeller:  # written at a labelling desk
            with labeller.session(labeller.place(ntag)) as session:
                session.write_ndef(message)
    return ntag


def _tag(uid: str, port: int, label: str | None = None, *, signed_for: str = "") -> UdpTag:
    """:func:`_ntag` on the udp reader's port."""
    return UdpTag(_ntag(uid, label, signed_for=signed_for), port)


def _wait_sensing(port: int) -> None:
    """Wait until nfcpy senses for a new tag: it has seen the last one go (and the agent got
    its removal before any next arrival), so the next tag is a new placement, not the old
    one still present."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", port))
        probe.settimeout(0.1)

        def sensing() -> bool:
            try:
                return probe.recv(64) in SENSE_FRAMES
            except TimeoutError:
                return False

        wait_for(sensing, 10, "nfcpy to sense for the next tag")


def _tap(agent: AgentProcess, tag: UdpTag, port: int) -> str:
    """Place, wait for the agent to queue the read, lift, wait for nfcpy to see it go."""
    uid = tag.uid.hex().upper()
    before = len(agent.lines)
    tag.place()
    try:
        return agent.wait_line(f"queued {uid}", after=before)
    finally:
        tag.lift()
        _wait_sensing(port)


class TestSweep:
    def test_shelf_then_carriers_get_their_classes(self, api: Api, agents: Agents,
                                                   port: int) -> None:
        campaign = api.campaign()
        [(home_label, home_uid), *_] = api.stored_carriers(SHELF)
        [(other_label, other_uid), *_] = api.stored_carriers("CAB01_S3")
        expected = api.shelf(campaign, SHELF)["expected"]
        agent = agents(campaign)
        assert "tap the shelf's tag first" in agent.wait_line("Sweep session ")

        _tap(agent, _tag(SHELF_UID, port), port)
        assert not agent.wait_line(f"SHELF {SHELF_UID}").endswith("\a")
        _tap(agent, _tag(home_uid, port, home_label), port)
        agent.wait_line(f"FOUND {home_uid} {home_label}: ")
        _tap(agent, _tag(other_uid, port, other_label), port)
        assert agent.wait_line(f"MISPLACED {other_uid} {other_label}: ").endswith("\a")
        _tap(agent, _tag(UNKNOWN_UID, port), port)
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

    def test_a_copied_label_is_reported_altered(self, api: Api, agents: Agents,
                                                port: int) -> None:
        campaign = api.campaign()
        [(home_label, home_uid), (second_label, second_uid), *_] = api.stored_carriers(SHELF)
        agent = agents(campaign)
        _tap(agent, _tag(SHELF_UID, port), port)
        agent.wait_line(f"SHELF {SHELF_UID}")
        # The second carrier's tag, holding a copy of the first one's label.
        _tap(agent, _tag(second_uid, port, home_label, signed_for=home_uid), port)
        assert agent.wait_line(f"ALTERED {second_uid}").endswith("\a")
        assert [a["tag_uid"] for a in api.report(campaign)["altered"]] == [second_uid]
        # The genuine one is no alarm.
        _tap(agent, _tag(home_uid, port, home_label), port)
        agent.wait_line(f"FOUND {home_uid} {home_label}: ")
        assert second_label != home_label


class TestDelivery:
    def test_killed_before_delivery_then_restarted_delivers_once(
        self, api: Api, agents: Agents, port: int, tmp_path: Path
    ) -> None:
        campaign = api.campaign()
        [(label, uid), *_] = api.stored_carriers(SHELF)
        nowhere = f"http://127.0.0.1:{free_port()}"  # the server out of reach
        first = agents(campaign, nowhere)
        session = first.wait_line("Sweep session ").split()[2]
        _tap(first, _tag(SHELF_UID, port), port)
        first.wait_line("1 read waiting: server unreachable")
        assert "(2 reads waiting: server unreachable" in _tap(first, _tag(uid, port, label), port)
        first.kill()  # queued, never delivered
        outbox = Outbox(tmp_path / "outbox.db")
        queued = [read.as_inventory_read() for read in outbox.pending(10)]
        outbox.close()
        assert [r["tag_uid"] for r in queued] == [SHELF_UID, uid]

        second = agents(campaign)
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
    def test_the_agent_says_why_and_exits(self, api: Api, agents: Agents, port: int,
                                          closed: bool) -> None:
        if closed:
            campaign = api.campaign()
            answer = api.http.post(f"/inventory/campaigns/{campaign}/close", json={})
            assert answer.status_code == 200, answer.text
        else:
            campaign = 999_999
        agent = agents(campaign)
        tag = _tag(SHELF_UID, port)
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
            shelf = VirtualTag(_ntag(SHELF_UID), pcsc.port())
            shelf.place()
            try:
                agent.wait_line(f"SHELF {SHELF_UID}")
            finally:
                shelf.lift()
            wait_for(lambda: pcsc.slot_empty(0, 0), 5, "pcscd to see the shelf tag lifted")
            place(_ntag(uid, label))
            assert "(again)" not in agent.wait_line(f"FOUND {uid} {label}: ")
        finally:
            agent.stop()
        classes = {i["label"]: i["class"] for i in api.shelf(campaign, SHELF)["items"]}
        assert classes[label] == "found"
        assert api.report(campaign)["altered"] == []  # the label's records came through
