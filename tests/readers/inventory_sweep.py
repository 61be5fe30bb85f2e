"""A laptop sweep's parts, shared by the inventory tests of the agent: the demo archive served
with a site key, the API as the clerk who runs the campaign, inventory agents on a udp reader,
and emulated NTAGs placed on it and lifted again. Its fixtures are registered in conftest.py.
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
from tests.readers.agent_process import AgentProcess
from tests.readers.stacks import wait_sensing
from tests.support.browser import PASSWORD, Site, start_site
from tests.support.ports import free_port

SITE_KEY = bytes(range(100, 132))
SHELF = "CAB01_S2"
SHELF_UID = "04AA0102000001"  # app/demo.py: 04AA{cab}{shelf}0000{cab}
UNKNOWN_UID = "04FEED00000001"  # registered to nothing


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
def sweep_agents(site: Site, port: int, tmp_path: Path) -> Iterator[Agents]:
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


def ntag(uid: str, label: str | None = None, *, signed_for: str = "") -> Ntag21x:
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


def udp_tag(uid: str, port: int, label: str | None = None, *, signed_for: str = "") -> UdpTag:
    """:func:`ntag` on the udp reader's port."""
    return UdpTag(ntag(uid, label, signed_for=signed_for), port)


def tap(agent: AgentProcess, tag: UdpTag, port: int) -> str:
    """Place, wait for the agent to queue the read, lift, wait for nfcpy to see it go."""
    uid = tag.uid.hex().upper()
    before = len(agent.lines)
    tag.place()
    try:
        return agent.wait_line(f"queued {uid}", after=before)
    finally:
        tag.lift()
        wait_sensing(port)


