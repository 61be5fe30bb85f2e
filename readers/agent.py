"""The station agent: reader events in, scans out to the service, feedback to the operator.

Rules:

- One scan per placement. A tag resting on the pad is one scan; lifted and put back, a new one.
  The backends report ``arrived`` once per placement; the agent also ignores a repeated
  ``arrived`` for the tag already resting on that reader.
- Store first, send later. A scan is written to the outbox (:mod:`readers.outbox`) before
  anything else happens, sent in sequence order in batches, and deleted only when the service's
  answer lists its event id. Sending retries with exponential backoff while the server or the
  network is down, or while the server refuses the station itself (a revoked key); the operator
  is told which of the two it is and how many scans wait.
- Never stall on one scan. When the server refuses a batch's content (400 or 422), the
  scans are sent one by one; a scan refused alone moves to the outbox's dead-letter table with
  the server's reason (``mediatrack station status`` lists them) and the queue moves on.
- Feedback from the server's answer: one line per scan on standard output, and the reader's
  buzzer/LED where it has them (good beep for "seen", error beep otherwise).

Run: ``python -m readers.agent --reader pcsc:// --server https://mediatrack.example``, with
the station API key in ``--key-file`` or ``$MEDIATRACK_STATION_KEY``. ``mediatrack station run``
calls :func:`main`.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from readers.base import EventKind, Reader, TagEvent
from readers.client import ServiceClient, ServiceError
from readers.errors import ReaderError
from readers.outbox import Outbox, Scan

log = logging.getLogger(__name__)

MAX_BATCH = 500  # the scans API takes 1 to 500 reads per request


class StationAgent:
    def __init__(
        self,
        reader: Reader,
        client: ServiceClient,
        outbox: Outbox,
        *,
        out: TextIO = sys.stdout,
        site_keys: dict[int, bytes] | None = None,
        batch: int = 100,
        max_backoff: float = 30.0,
    ) -> None:
        self.reader = reader
        self.client = client
        self.outbox = outbox
        self.out = out
        self.site_keys = site_keys
        self.batch = min(batch, MAX_BATCH)
        self.max_backoff = max_backoff
        self.stop = threading.Event()
        self._wake = threading.Event()
        self._resting: dict[str, str] = {}  # reader -> UID of the tag resting on it
        self._events: dict[str, TagEvent] = {}  # event id -> reader event, for feedback
        self._outage: str | None = None
        self._in_step = False  # sequence numbers known to follow the service's

    def say(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    # -- reader side -------------------------------------------------------------------------

    def run(self) -> None:
        """Run until :attr:`stop` is set: read events here, send in a second thread."""
        waiting = self.outbox.count()
        if waiting:
            self.say(f"{waiting} scan(s) from before wait to be sent.")
        sender = threading.Thread(target=self._send_loop, name="agent-sender", daemon=True)
        sender.start()
        try:
            while not self.stop.is_set():
                event = self.reader.next_event(timeout=0.2)
                if event is not None:
                    self.handle(event)
        finally:
            self.stop.set()
            self._wake.set()
            sender.join(timeout=10)

    def handle(self, event: TagEvent) -> Scan | None:
        """Apply the rest/lift rule; queue a scan for each new placement."""
        if event.kind is EventKind.ERROR:
            self.say(f"reader: {event.message}")
            return None
        assert event.uid is not None
        if event.kind is EventKind.REMOVED:
            if self._resting.get(event.reader) == event.uid:
                del self._resting[event.reader]
            return None
        if self._resting.get(event.reader) == event.uid:
            return None  # still the same placement
        self._resting[event.reader] = event.uid
        assert event.technology is not None
        scan = self.outbox.add(event.uid, str(event.technology), event.at)
        self._events[scan.event_id] = event
        self.say(f"queued #{scan.station_seq} {scan.tag_uid}"
                 + (f" ({self.outbox.count()} waiting; {self._outage})" if self._outage
                    else ""))
        self._wake.set()
        if self.site_keys is not None:
            self._check_label(event)
        return scan

    def _check_label(self, event: TagEvent) -> None:
        """Read the tag's label and warn when it is not a genuine one of this site."""
        # ndeflib comes with the pcsc and nfc extras; a wedge-only station never gets here.
        from readers.carrier_label import LabelCheck, decode_label

        assert self.site_keys is not None and event.uid is not None
        try:
            with self.reader.session(event) as session:
                reading = decode_label(session.read_ndef(), uid=event.uid, keys=self.site_keys)
        except ReaderError as exc:
            self.say(f"label of {event.uid} not checked: {exc}")
            return
        if reading.check is not LabelCheck.GENUINE:
            self.say(f"warning: {reading.message}")

    # -- server side -------------------------------------------------------------------------

    def _send_loop(self) -> None:
        backoff = 0.2
        while not self.stop.is_set():
            batch = self.outbox.pending(self.batch)
            if not batch:
                self._wake.wait(timeout=1.0)
                self._wake.clear()
                continue
            try:
                if not self._in_step:
                    self._catch_up()
                self._send(batch)
            except ServiceError as exc:
                self._failed(exc)
                self.stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            backoff = 0.2

    def _send(self, batch: list[Scan]) -> None:
        """Deliver a batch; when its content is refused, find the scans at fault one by one."""
        try:
            results = self.client.post_scans([s.as_read() for s in batch])
        except ServiceError as exc:
            if not exc.content_refused:
                raise
            if len(batch) == 1:
                self._bury(batch[0], exc)
                return
            for scan in batch:
                self._send([scan])
            return
        self._delivered(batch, results)

    def _bury(self, scan: Scan, exc: ServiceError) -> None:
        self.outbox.bury(scan, exc.message, datetime.now(UTC))
        self._events.pop(scan.event_id, None)
        self.say(f"#{scan.station_seq} {scan.tag_uid} refused by the server: {exc.message} "
                 "Kept aside (mediatrack station status lists it); the next scans go on.")

    def _catch_up(self) -> None:
        """Number new scans after the last one the service has from this station."""
        renumbered = self.outbox.continue_after(self.client.last_station_seq())
        if renumbered:
            self.say(f"{renumbered} unsent scan(s) carried sequence numbers the server already "
                     "has; renumbered after the server's last one (scans it did record are "
                     "still recognised by their event id).")
        self._in_step = True

    def _failed(self, exc: ServiceError) -> None:
        if exc.status == 413 and self.batch > 1:
            self.batch = max(1, self.batch // 2)  # body too large: send fewer per request
            return
        trouble = exc.describe()
        if trouble != self._outage:
            self._outage = trouble
            self.say(f"{trouble} {self.outbox.count()} scan(s) waiting; they will be sent "
                     "when the server takes them.")

    def _delivered(self, batch: list[Scan], results: list[dict[str, Any]]) -> None:
        if self._outage is not None:
            self._outage = None
            self.say("server: taking scans again.")
        # An answer for another event under our sequence number: the service holds numbers
        # this outbox reused. Keep those scans; they go again under new numbers.
        if any(r.get("event_id") != s.event_id for s, r in zip(batch, results, strict=False)):
            self._in_step = False
        sent = {s.event_id: s for s in batch}
        acknowledged = [r["event_id"] for r in results if r.get("event_id") in sent]
        self.outbox.acknowledge(acknowledged)
        for result in results:
            scan = sent.get(result.get("event_id", ""))
            if scan is None:
                continue
            replay = " (again)" if result.get("replayed") else ""
            self.say(f"#{scan.station_seq} {scan.tag_uid} {result['outcome']}{replay}: "
                     f"{result.get('message', '')}")
            if result.get("clock_wrong"):
                self.say("warning: the server says this station's clock is wrong; set the "
                         "date and time.")
            event = self._events.pop(scan.event_id, None)
            if event is not None:
                self.reader.signal(event, ok=result["outcome"] == "seen")


def _outbox_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--outbox", type=Path,
                        default=Path(os.environ.get("MEDIATRACK_STATION_OUTBOX",
                                                    "station-outbox.db")),
                        help="SQLite outbox file (default: $MEDIATRACK_STATION_OUTBOX or "
                        "./station-outbox.db); keep it: it holds unsent scans and the "
                        "station's sequence counter")


def _key_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key-file", type=Path,
                        help="file holding the station API key (default: "
                        "$MEDIATRACK_STATION_KEY)")


def _api_key(args: argparse.Namespace) -> str:
    return (args.key_file.read_text().strip() if args.key_file
            else os.environ.get("MEDIATRACK_STATION_KEY", "").strip())


def main(argv: Sequence[str] | None = None) -> int:
    """``mediatrack station run``: run the station agent until SIGTERM or Ctrl-C."""
    parser = argparse.ArgumentParser(prog="mediatrack station run",
                                     description="Turn tag reads into scans on the server.")
    parser.add_argument("--reader", required=True, help="reader URL: pcsc://, nfc://usb, ...")
    parser.add_argument("--server", required=True, help="service URL")
    _key_option(parser)
    _outbox_option(parser)
    parser.add_argument("--site-keys", type=Path,
                        help="site key file; when given, each tag's label is checked offline")
    parser.add_argument("--batch", type=int, default=100, help="scans per request (1-500)")
    parser.add_argument("--max-backoff", type=float, default=30.0,
                        help="longest wait in seconds between retries while the server is down")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    api_key = _api_key(args)
    if not api_key:
        print("No station API key: pass --key-file or set MEDIATRACK_STATION_KEY.",
              file=sys.stderr)
        return 2
    site_keys = None
    if args.site_keys:
        from readers.carrier_label import parse_keys

        site_keys = parse_keys(args.site_keys.read_text())

    from readers.registry import open_reader

    outbox = Outbox(args.outbox)
    client = ServiceClient(args.server, api_key)
    try:
        reader = open_reader(args.reader)
    except (ReaderError, ValueError) as exc:
        print(f"Cannot open the reader: {exc}", file=sys.stderr)
        return 1
    agent = StationAgent(reader, client, outbox, site_keys=site_keys, batch=args.batch,
                         max_backoff=args.max_backoff)

    def stop(signum: int, frame: FrameType | None) -> None:
        agent.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    agent.say(f"station agent: reader {args.reader}, server {args.server}.")
    try:
        agent.run()
    finally:
        reader.close()
        client.close()
        outbox.close()
    return 0


def status_main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    """``mediatrack station status``: what waits in the outbox, what the server refused, and,
    with ``--server``, what the server knows of this station (its last scan, its clock)."""
    parser = argparse.ArgumentParser(prog="mediatrack station status",
                                     description="Show the station's outbox and server view.")
    _outbox_option(parser)
    parser.add_argument("--server", help="service URL; ask it about this station too")
    _key_option(parser)
    args = parser.parse_args(argv)
    if not args.outbox.exists():
        print(f"No outbox at {args.outbox}: this station has queued nothing yet.", file=out)
    else:
        outbox = Outbox(args.outbox)
        try:
            _print_outbox(outbox, out)
        finally:
            outbox.close()
    if not args.server:
        return 0
    api_key = _api_key(args)
    if not api_key:
        print("No station API key: pass --key-file or set MEDIATRACK_STATION_KEY.", file=out)
        return 2
    client = ServiceClient(args.server, api_key)
    try:
        station = client.own_station()
    except ServiceError as exc:
        print(exc.describe(), file=out)
        return 1
    finally:
        client.close()
    print(f"Server {args.server}: station {station['name']}, last scan received "
          f"#{station['last_seq']}, last heard from {station['last_seen_at'] or 'never'}.",
          file=out)
    if station.get("clock_wrong"):
        print("The station's clock is wrong (its latest read was dated before 2000 or more "
              "than a day ahead): set its date and time.", file=out)
    return 0


def _print_outbox(outbox: Outbox, out: TextIO) -> None:
    print(f"{outbox.count()} scan(s) waiting to be sent.", file=out)
    dead = outbox.dead_letters()
    if not dead:
        return
    print(f"{len(dead)} scan(s) refused by the server and kept aside (not sent again):",
          file=out)
    for letter in dead:
        scan = letter.scan
        print(f"  #{scan.station_seq} {scan.tag_uid} read {scan.read_at}, refused "
              f"{letter.refused_at}: {letter.reason}", file=out)


if __name__ == "__main__":
    sys.exit(main())
