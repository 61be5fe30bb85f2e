"""A real Orthanc (Debian ``orthanc`` + ``orthanc-dicomweb``) on loopback for PACS tests.

One private server per test session: its own configuration, storage in a temporary folder,
free ports, HTTP refused from anywhere but loopback, and C-FIND allowed only for MediaTrack's
AE title from 127.0.0.1. Readiness is Orthanc's own "Orthanc has started" log line, waited for
with a deadline. The ``orthanc`` fixture empties the server before each test, so no test sees
another's studies. On a laptop without Orthanc the tests skip; in CI they fail.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app.pacs.clients import DEFAULT_CALLING_AET, CFindClient, QidoClient
from tests.support.ports import free_port
from tests.support.real import need_executable, unavailable

DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
AET = "TESTPACS"
START_DEADLINE_S = 30.0
STOP_DEADLINE_S = 20.0
READY_LINE = "Orthanc has started"


@dataclass
class Orthanc:
    http_url: str
    dicom_port: int
    aet: str = AET

    @property
    def dicomweb_url(self) -> str:
        return f"{self.http_url}/dicom-web"

    def qido(self) -> QidoClient:
        return QidoClient(self.dicomweb_url)

    def cfind(self, *, calling_aet: str = DEFAULT_CALLING_AET) -> CFindClient:
        return CFindClient(
            host="127.0.0.1", port=self.dicom_port, called_aet=self.aet, calling_aet=calling_aet
        )

    def upload(self, *paths: Path) -> None:
        with httpx.Client(base_url=self.http_url, timeout=30) as client:
            for path in paths:
                response = client.post("/instances", content=path.read_bytes())
                response.raise_for_status()

    def clear(self) -> None:
        with httpx.Client(base_url=self.http_url, timeout=30) as client:
            for patient in client.get("/patients").raise_for_status().json():
                client.delete(f"/patients/{patient}").raise_for_status()


class _Process:
    """Orthanc with its log drained on a thread (a full pipe would stall it)."""

    def __init__(self, executable: str, config: Path) -> None:
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.ended = threading.Event()
        self.proc = subprocess.Popen(
            [executable, str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._drain = threading.Thread(target=self._read_log, daemon=True)
        self._drain.start()

    def _read_log(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip())
            if READY_LINE in line:
                self.ready.set()
        self.ended.set()
        self.ready.set()  # wake the waiter: the process is gone

    def wait_started(self) -> bool:
        return self.ready.wait(START_DEADLINE_S) and not self.ended.is_set()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_DEADLINE_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_DEADLINE_S)
        self._drain.join(STOP_DEADLINE_S)


def _config(storage: Path, http_port: int, dicom_port: int) -> dict[str, object]:
    return {
        "Name": "mediatrack-test",
        "StorageDirectory": str(storage),
        "IndexDirectory": str(storage),
        "HttpPort": http_port,
        # Orthanc 1.10 has no bind address: refuse non-loopback HTTP instead.
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomServerEnabled": True,
        "DicomAet": AET,
        "DicomPort": dicom_port,
        "DicomCheckCalledAet": True,
        # Only MediaTrack's AE title, from loopback, may query (the DICOM port listens on all).
        "DicomAlwaysAllowEcho": False,
        "DicomAlwaysAllowStore": False,
        "DicomAlwaysAllowFind": False,
        "DicomCheckModalityHost": True,
        "DicomModalities": {"mediatrack": [DEFAULT_CALLING_AET, "127.0.0.1", 104]},
        "SaveJobs": False,
        "StableAge": 1,
        "Plugins": [str(DICOMWEB_PLUGIN)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
    }


@pytest.fixture(scope="session")
def orthanc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    executable = need_executable("Orthanc", "orthanc")
    if not DICOMWEB_PLUGIN.exists():
        unavailable(f"{DICOMWEB_PLUGIN.name} not found (Debian package orthanc-dicomweb)")
    root = tmp_path_factory.mktemp("orthanc")
    log: list[str] = []
    # A free port can be taken between our probe and Orthanc's bind: try fresh ports again.
    for attempt in range(3):
        http_port, dicom_port = free_port(), free_port()
        config = root / f"orthanc-{attempt}.json"
        config.write_text(json.dumps(_config(root / f"db-{attempt}", http_port, dicom_port)))
        process = _Process(executable, config)
        if process.wait_started():
            break
        process.stop()
        log = process.lines
    else:
        pytest.fail("Orthanc did not start:\n" + "\n".join(log[-20:]), pytrace=False)
    try:
        yield Orthanc(http_url=f"http://127.0.0.1:{http_port}", dicom_port=dicom_port)
    finally:
        process.stop()


@pytest.fixture
def orthanc(orthanc_server: Orthanc) -> Orthanc:
    """The session's Orthanc, emptied for this test."""
    orthanc_server.clear()
    return orthanc_server
