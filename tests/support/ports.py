"""Free loopback ports for the servers, daemons and emulators a test starts."""

from __future__ import annotations

import random
import socket
from pathlib import Path


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 that nothing uses now (TCP, or UDP with ``socket.SOCK_DGRAM``)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_fixed_udp_port() -> int:
    """A free UDP port below the kernel's ephemeral range, for a tag emulator that binds and
    unbinds it thousands of times: in the range, another process's unbound socket (nfcpy's,
    sending) may be given it while it is unbound, and the next bind fails."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for port in random.sample(range(max(1024, low - 10000), low), 200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free UDP port below the ephemeral range")


def free_port_pair() -> int:
    """A TCP port p such that p and p+1 are free (a vpcd reader listens on both, one per slot)."""
    for _ in range(100):
        port = free_port()
        if port > 65000:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair")
