"""A clerk's desk page as a test drives it: logged in, bound to a station, reading its live
event stream."""

from __future__ import annotations

import queue
import re
import ssl
import threading

import httpx

from tests.factories import PASSWORD


def desk_client(base: str, verify: ssl.SSLContext | bool = True) -> httpx.Client:
    """A logged-in clerk whose browser is bound to station desk-1."""
    client = httpx.Client(base_url=base, timeout=10, verify=verify)
    page = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    r = client.post("/login", data={"username": "clerk", "password": PASSWORD,
                                    "csrf_token": token.group(1)})
    assert r.status_code in (200, 303), r.text
    client.cookies.set("mediatrack_desk", "desk-1")
    return client


def listen(client: httpx.Client, events: queue.Queue[tuple[str, str]],
           ready: threading.Event, opened: queue.Queue[httpx.Response] | None = None) -> None:
    """Read the desk's event stream into ``events`` (event name, data) until its first scan;
    ``opened`` gets the stream's response (which connection it came on)."""
    with client.stream("GET", "/desk/events", timeout=httpx.Timeout(10, read=30)) as stream:
        if opened is not None:
            opened.put(stream)
        name, data = "", []
        for line in stream.iter_lines():
            if line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                data.append(line.split(":", 1)[1].strip())
            elif line == "" and name:
                if name == "ready":
                    ready.set()
                events.put((name, "\n".join(data)))
                if name == "scan":
                    return
                name, data = "", []


def until_scan(events: queue.Queue[tuple[str, str]]) -> tuple[list[str], str]:
    """The names of the stream's events up to its first scan, and that scan's card."""
    names = []
    while True:
        name, data = events.get(timeout=10)
        names.append(name)
        if name == "scan":
            return names, data
