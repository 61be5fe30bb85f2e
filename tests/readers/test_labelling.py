"""Labelling a tag on the real PC/SC stack and binding it on the real service."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from readers.backends.pcsc import PcscReader
from readers.base import EventKind, TagType
from readers.carrier_label import LabelCheck, decode_label
from readers.client import ServiceClient, ServiceError
from readers.emulators.tags import Ntag21x
from readers.emulators.vpcd import VirtualTag
from readers.errors import TagLostError
from readers.labelling import label_tag
from tests.readers.service import Service
from tests.readers.stacks import PcscStack, expect_event
from tests.support.ports import free_port

Place = Callable[..., VirtualTag]
KEYS = {3: bytes(range(100, 132))}


class TestLabelTag:
    def test_writes_verifies_and_binds(self, service: Service, client: ServiceClient,
                                       pcsc_reader: PcscReader, place: Place) -> None:
        service.register("LBL0001", "BD")
        place(Ntag21x(TagType.NTAG215, uid=bytes.fromhex("04100000000001")))
        event = expect_event(pcsc_reader, EventKind.ARRIVED)
        with pcsc_reader.session(event) as tag:
            result = label_tag(tag, client, "LBL0001", public_url=service.url, keys=KEYS, key_id=3)
            reading = decode_label(tag.read_ndef(), uid=tag.uid, keys=KEYS)
        assert reading.check is LabelCheck.GENUINE
        assert reading.uri == f"{service.url}/c/LBL0001"
        assert result.carrier.kind == "BD"
        bound = client.get_carrier("LBL0001")["tag"]
        assert bound == {"uid": "04100000000001", "technology": "iso14443a",
                         "tag_type": "NTAG215"}

    def test_lock(self, service: Service, client: ServiceClient, pcsc_reader: PcscReader,
                  place: Place) -> None:
        service.register("LBL0002")
        vtag = place(Ntag21x(uid=bytes.fromhex("04100000000002")))
        event = expect_event(pcsc_reader, EventKind.ARRIVED)
        with pcsc_reader.session(event) as tag:
            assert label_tag(tag, client, "LBL0002", public_url=service.url, lock=True,
                             keys=KEYS, key_id=3).locked
        assert vtag.tag.memory[15] == 0x0F  # CC says read-only

    def test_lifted_mid_write_binds_nothing(self, service: Service, client: ServiceClient,
                                            pcsc_reader: PcscReader, place: Place) -> None:
        service.register("LBL0003")
        vtag = place(Ntag21x(uid=bytes.fromhex("04100000000003")))
        event = expect_event(pcsc_reader, EventKind.ARRIVED)
        vtag.faults.leave_when = lambda apdu: apdu[1] == 0xD6 and apdu[3] == 8
        with pcsc_reader.session(event) as tag, pytest.raises(TagLostError):
            label_tag(tag, client, "LBL0003", public_url=service.url, keys=KEYS, key_id=3)
        assert client.get_carrier("LBL0003")["tag"] is None
        assert vtag.tag.memory[16:18] == b"\x03\x00"  # an empty message, not a torn one

    def test_unknown_carrier_writes_nothing(self, client: ServiceClient,
                                            pcsc_reader: PcscReader, place: Place) -> None:
        vtag = place(Ntag21x())
        event = expect_event(pcsc_reader, EventKind.ARRIVED)
        with pcsc_reader.session(event) as tag, pytest.raises(ServiceError) as caught:
            label_tag(tag, client, "NOSUCH", public_url="https://x.example", keys=KEYS, key_id=3)
        assert caught.value.status == 404
        assert not [a for a in vtag.apdus if a[1] == 0xD6]

    def test_tag_bound_elsewhere(self, service: Service, client: ServiceClient,
                                 pcsc_reader: PcscReader, place: Place) -> None:
        service.register("LBL0004")
        service.register("LBL0005")
        vtag = place(Ntag21x(uid=bytes.fromhex("04100000000004")))
        event = expect_event(pcsc_reader, EventKind.ARRIVED)
        with pcsc_reader.session(event) as tag:
            label_tag(tag, client, "LBL0004", public_url=service.url, keys=KEYS, key_id=3)
            with pytest.raises(ServiceError) as caught:
                label_tag(tag, client, "LBL0005", public_url=service.url, keys=KEYS, key_id=3)
        assert caught.value.status == 409 and caught.value.message
        assert vtag.placed


class TestLabelTagOnNfcpy:
    def test_label_and_password_protect(self, service: Service, client: ServiceClient) -> None:
        from readers.backends.nfc import NfcReader
        from readers.emulators.udp import UdpTag

        port = free_port(socket.SOCK_DGRAM)
        service.register("LBL0006", "LTO-8")
        tag = UdpTag(Ntag21x(TagType.NTAG216, uid=bytes.fromhex("04100000000006")), port)
        tag.place()
        try:
            with NfcReader(f"udp:127.0.0.1:{port}") as reader:
                event = expect_event(reader, EventKind.ARRIVED)
                with reader.session(event) as session:
                    result = label_tag(session, client, "LBL0006", public_url=service.url,
                                       keys=KEYS, key_id=3, password=b"pw1234")
        finally:
            tag.lift()
        assert result.protected and result.carrier.kind == "LTO-8"
        assert tag.tag.auth0 == 4
        assert client.get_carrier("LBL0006")["tag"]["tag_type"] == "NTAG216"


class TestForgedLabels:
    """A phone can rewrite an unlocked tag; the station must notice, offline."""

    def test_edited_and_copied_labels_are_flagged(
        self, service: Service, client: ServiceClient, pcsc_reader: PcscReader, place: Place
    ) -> None:
        service.register("LBL0007", "CD")
        genuine = place(Ntag21x(uid=bytes.fromhex("04100000000007")), slot=0)
        event = expect_event(pcsc_reader, EventKind.ARRIVED)
        with pcsc_reader.session(event) as tag:
            label_tag(tag, client, "LBL0007", public_url=service.url, keys=KEYS, key_id=3)
            label = tag.read_ndef()
        # Copy the label byte for byte onto another tag (the second slot) ...
        copy = place(Ntag21x(uid=bytes.fromhex("04100000000008")), slot=1)
        copy_event = expect_event(pcsc_reader, EventKind.ARRIVED)
        with pcsc_reader.session(copy_event) as tag:
            tag.write_ndef(label)
            assert decode_label(tag.read_ndef(), uid=tag.uid, keys=KEYS).check is (
                LabelCheck.ALTERED
            )
        # ... and edit the genuine one: "CD" becomes "BD".
        with pcsc_reader.session(event) as tag:
            tag.write_ndef(label.replace(b"\x02CD", b"\x02BD"))
            reading = decode_label(tag.read_ndef(), uid=tag.uid, keys=KEYS)
        assert reading.check is LabelCheck.ALTERED
        assert genuine.placed and copy.placed


class TestLabellingCommand:
    def test_labels_the_tag_placed_on_the_reader(
        self, pcsc: PcscStack, service: Service, station_key: str, client: ServiceClient,
        place: Place, tmp_path: Path
    ) -> None:
        service.register("LBL0009", "LTO-9")
        (tmp_path / "site-keys").write_text(f"# test site\n3 {KEYS[3].hex()}\n")
        place(Ntag21x(TagType.NTAG215, uid=bytes.fromhex("04100000000009")))
        done = subprocess.run(
            [sys.executable, "-m", "readers.labelling", "LBL0009", "--reader", "pcsc://",
             "--server", service.url, "--site-keys", str(tmp_path / "site-keys"), "--lock",
             "--timeout", "20"],
            env={**pcsc.env, "MEDIATRACK_STATION_KEY": station_key}, capture_output=True,
            text=True, timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert "Tag 04100000000009 now labels LTO-9 LBL0009 (locked)." in done.stdout
        assert client.get_carrier("LBL0009")["tag"]["uid"] == "04100000000009"

    def test_unknown_label_exits_non_zero(self, pcsc: PcscStack, service: Service,
                                          station_key: str, place: Place,
                                          tmp_path: Path) -> None:
        (tmp_path / "site-keys").write_text(f"3 {KEYS[3].hex()}\n")
        place(Ntag21x(uid=bytes.fromhex("04100000000010")))
        done = subprocess.run(
            [sys.executable, "-m", "readers.labelling", "NOSUCH", "--reader", "pcsc://",
             "--server", service.url, "--site-keys", str(tmp_path / "site-keys")],
            env={**pcsc.env, "MEDIATRACK_STATION_KEY": station_key}, capture_output=True,
            text=True, timeout=60,
        )
        assert done.returncode == 1
        assert done.stderr.startswith("Not labelled: ")
