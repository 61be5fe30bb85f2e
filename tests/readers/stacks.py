"""Real stacks the reader tests drive: an isolated pcscd with Debian's vpcd driver, and
nfcpy's udp driver (:func:`wait_sensing`).

pcscd's socket path is compiled in (``/run/pcscd/pcscd.comm``), but clients honour
``PCSCLITE_CSOCK_NAME``. So pcscd runs in a private mount namespace where a temp directory is
bind-mounted over ``/run``: the daemon writes its socket and pid file there, the test process
finds the socket through the variable, and a pcscd on the host (or in another test run) is never
touched. vpcd's TCP ports are picked free per run.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

from readers.base import EventKind, Reader, TagEvent
from tests.support.ports import free_port_pair
from tests.support.real import need_executable, unavailable
from tests.support.wait import wait_for

# nfcpy's udp driver senses Type A with SENS_REQ (ISO/IEC 14443-3 §6.3: REQA 26, WUPA 52).
SENSE_FRAMES = (b"106A 26", b"106A 52")
VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")


def _listening_tcp_ports() -> set[int]:
    """Ports with a socket in LISTEN state (st 0A in /proc/net/tcp; no iproute2 needed)."""
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A":
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


class PcscStack:
    """One private pcscd with two vpcd readers of two slots each."""

    # Reader names as the real devices report them, so the backend picks their profiles.
    FRIENDLY_NAMES = ("ACS ACR122U PICC Interface", "ACS ACR1552 1S CL Reader PICC")

    def __init__(self) -> None:
        self.pcscd = need_executable("pcscd", "pcscd")
        self.unshare = need_executable("unshare", "util-linux")
        if not VPCD_DRIVER.exists():
            unavailable(f"{VPCD_DRIVER} not found (Debian package vsmartcard-vpcd)")
        if os.geteuid() != 0:
            unavailable("an isolated pcscd needs root for a private mount namespace")
        self.root = Path(tempfile.mkdtemp(prefix="mt-pcscd-"))
        self.run_dir = self.root / "run"
        self.conf_dir = self.root / "conf"
        self.run_dir.mkdir()
        self.conf_dir.mkdir()
        self.socket = self.run_dir / "pcscd" / "pcscd.comm"
        self.log = self.root / "pcscd.log"
        self.ports: list[int] = []
        for i, name in enumerate(self.FRIENDLY_NAMES):
            port = free_port_pair()
            self.ports.append(port)
            # Two readers on one loaded vpcd driver never finish initialising (pcsc-lite
            # 1.9.9 waits on the second for ever), so each reader loads its own copy.
            driver = self.root / f"libifdvpcd{i}.so"
            shutil.copy(VPCD_DRIVER, driver)
            (self.conf_dir / f"vpcd{i}").write_text(
                f'FRIENDLYNAME "{name}"\n'
                f"DEVICENAME   /dev/null:0x{port:04X}\n"
                f"LIBPATH      {driver}\n"
                f"CHANNELID    0x{port:04X}\n"
            )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        """Environment for a client process (the agent) of this pcscd."""
        return {**os.environ, "PCSCLITE_CSOCK_NAME": str(self.socket)}

    def reader_name(self, reader: int = 0, slot: int = 0) -> str:
        return f"{self.FRIENDLY_NAMES[reader]} 00 {slot:02d}"

    def port(self, reader: int = 0, slot: int = 0) -> int:
        return self.ports[reader] + slot

    def slot_empty(self, reader: int = 0, slot: int = 0) -> bool:
        """Whether pcscd reports no card in the slot (asked through a fresh context)."""
        from smartcard import scard

        hr, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        try:
            query = [(self.reader_name(reader, slot), scard.SCARD_STATE_UNAWARE)]
            hr, states = scard.SCardGetStatusChange(context, 0, query)
            return hr == 0 and bool(states[0][1] & scard.SCARD_STATE_EMPTY)
        finally:
            scard.SCardReleaseContext(context)

    def start(self) -> None:
        script = (
            f'mount --bind "{self.run_dir}" /run && '
            f'exec "{self.pcscd}" --foreground -c "{self.conf_dir}"'
        )
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [self.unshare, "-m", "--propagation", "private", "sh", "-c", script],
                stdout=log, stderr=subprocess.STDOUT,
            )
        wait_for(self._ready, 15, "pcscd to listen on every vpcd port")

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"pcscd exited: {self.log.read_text()[-2000:]}")
        if not self.socket.exists():
            return False
        # vpcd opens its ports when pcscd has loaded the driver.
        listening = _listening_tcp_ports()
        return all(p in listening and p + 1 in listening for p in self.ports)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=10)
        self.process = None

    def ensure_running(self) -> None:
        if not self.running:
            self.start()

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def expect_event(reader: Reader, kind: EventKind, timeout: float = 10.0) -> TagEvent:
    """The reader's next event, which must be of ``kind`` and come within ``timeout``."""
    event = reader.next_event(timeout)
    assert event is not None, f"no {kind} event within {timeout} s"
    assert event.kind is kind, f"expected {kind}, got {event}"
    return event


def wait_sensing(port: int) -> None:
    """Wait until nfcpy senses for a new tag: it has seen the last one go (and the agent got
    its removal before any next arrival), so the next tag is a new placement, not the old
    one still present."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:

        def bound() -> bool:
            # Seen once on a loaded machine: EADDRINUSE just after the tag's socket closed.
            # Whoever held the port let it go again; wait for it rather than fail the run.
            try:
                probe.bind(("127.0.0.1", port))
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                return False
            return True

        wait_for(bound, 10, f"UDP port {port} to be free for the sensing probe")
        probe.settimeout(0.1)

        def sensing() -> bool:
            try:
                return probe.recv(64) in SENSE_FRAMES
            except TimeoutError:
                return False

        wait_for(sensing, 10, "nfcpy to sense for the next tag")
