"""The station agent: reader events in, scans out to the service, feedback to the operator.

Rules:

- One scan per placement. A tag resting on the pad is one scan; lifted and put back, a new one.
  The backends report ``arrived`` once per placement; the agent also ignores a repeated
  ``arrived`` for the tag already resting on that reader.
- Store first, send later. A scan is written to the outbox (:mod:`readers.outbox`) before
  anything else happens, sent in sequence order in batches, and deleted only when the service's
  answer lists its event id. Sending retries with exponential backoff while the server or the
  network is down, or while the server refuses the station itself (a revoked key); the operator
  is told which of the two it is and how many scans wait. A 429 (the station sent more reads
  than its budget) is retried after the answer's Retry-After, never set aside.
- Never stall on one scan. When the server refuses a batch's content (400 or 422), the
  scans are sent one by one; a scan refused alone moves to the outbox's dead-letter table with
  the server's reason (``mediatrack station status`` lists them) and the queue moves on.
- Feedback from the server's answer: one line per scan on standard output, and the reader's
  buzzer/LED where it has them (good beep for "seen", error beep otherwise).
- Labels asked for by the desk. After "register this carrier" at the desk, the service asks
  the station to write the carrier's label (an NDEF message the service signs) on the tag. While
  a tag rests on a reader, the agent asks the service every second for such jobs; one for the
  resting tag is written on the reader's thread, read back and compared, and the outcome is
  reported (the desk shows it). A report that does not get through leaves the job waiting, so it
  is written again, unchanged, while the tag rests or the next time it is placed.

Inventory mode (``--mode inventory --campaign ID``, a laptop handheld sweeping shelves): every
tap is an inventory read of the agent's sweep session instead of a desk scan, with the tag's
NDEF records so the service checks the label's keyed checksum. The session is made once per
campaign and kept in the outbox, so a restarted agent goes on with the same session and shelf.
The reads take the same way as scans (outbox first, same delivery loop, same dead letters) to
``POST /inventory/campaigns/{id}/reads``; each answer line starts with the read's class in
capitals (FOUND, MISPLACED, SHELF, ...), problems ring the terminal bell, and each batch ends
with the shelf's progress ("Shelf 2 (CAB01_S2): 12 of 15 seen"). A campaign the service does
not know or has closed (404, 409) takes no reads ever: its reads are kept aside and the agent
stops with the service's sentence, rather than queueing for ever.

Run: ``python -m readers.agent --reader pcsc:// --server https://mediatrack.example``, with
the station API key in ``--key-file`` or ``$MEDIATRACK_STATION_KEY``. ``mediatrack station run``
calls :func:`main`.
"""

from __future__ import annotations

import argparse
import logging
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from readers.base import EventKind, Reader, TagEvent
from readers.client import LabelJob, ServiceClient, ServiceError
from readers.errors import ReaderError, TagCommandError
from readers.outbox import Outbox, Records, Scan, Sweep

log = logging.getLogger(__name__)

MAX_BATCH = 500  # the scans and inventory APIs take 1 to 500 reads per request
# Inventory classes that need no second look; every other one rings the bell.
GOOD_CLASSES = frozenset({"found", "shelf"})
# The service names a shelf by its path, the location names joined by " / ".
PATH_SEPARATOR = " / "
BELL = "\a"
LABEL_POLL_SECONDS = 1.0  # how often to ask for label jobs while a tag rests on a reader


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
        campaign: int | None = None,
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
        self._resting: dict[str, TagEvent] = {}  # reader -> the placement resting on it
        self._events: dict[str, TagEvent] = {}  # event id -> reader event, for feedback
        self._outage: str | None = None
        self._in_step = False  # sequence numbers known to follow the service's
        # Inventory mode: the sweep session of the campaign, kept in the outbox.
        self.sweep: Sweep | None = (
            outbox.sweep(campaign, datetime.now(UTC)) if campaign is not None else None
        )
        # Why the agent stopped itself (the campaign takes no reads); None while all is well.
        self.failure: str | None = None
        # Label jobs: found by the sender thread, written by the reader thread (which alone
        # talks to the reader). Ids queued and not yet done, so a poll does not queue one twice.
        self._labels: queue.SimpleQueue[LabelJob] = queue.SimpleQueue()
        self._labelling: set[int] = set()
        self._label_polled = 0.0
        self._label_jobs_served = True  # False once an older service said it has no such route

    def say(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    # -- reader side -------------------------------------------------------------------------

    def run(self) -> None:
        """Run until :attr:`stop` is set: read events here, send in a second thread."""
        waiting = self.outbox.count()
        if waiting:
            self.say(f"{waiting} scan(s) from before wait to be sent.")
        if self.sweep is not None:
            self.say(f"Sweep session {self.sweep.session} of campaign {self.sweep.campaign_id}"
                     + (f", on {self.sweep.shelf}" if self.sweep.shelf
                        else ": tap the shelf's tag first, then its carriers") + ".")
        sender = threading.Thread(target=self._send_loop, name="agent-sender", daemon=True)
        sender.start()
        try:
            while not self.stop.is_set():
                event = self.reader.next_event(timeout=0.2)
                if event is not None:
                    self.handle(event)
                self._write_labels()
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
        resting = self._resting.get(event.reader)
        if event.kind is EventKind.REMOVED:
            if resting is not None and resting.uid == event.uid:
                del self._resting[event.reader]
            return None
        if resting is not None and resting.uid == event.uid:
            return None  # still the same placement
        self._resting[event.reader] = event
        if self.sweep is None:
            scan = self._queue(event)  # first: a slow label read must not delay the scan
            message = self._read_ndef(event) if self.site_keys is not None else None
        else:
            # The read carries the tag's records, so they are read before it is queued.
            message = self._read_ndef(event)
            scan = self._queue(event, self._records(message))
        if self.site_keys is not None and message is not None:
            self._check_label(event.uid, message)
        return scan

    def _queue(self, event: TagEvent, records: Records = ()) -> Scan:
        """Make the read durable, then say so and wake the sender."""
        assert event.uid is not None and event.technology is not None
        scan = self.outbox.add(event.uid, str(event.technology), event.at, sweep=self.sweep,
                               records=records)
        self._events[scan.event_id] = event
        if self.sweep is None:
            self.say(f"queued #{scan.station_seq} {scan.tag_uid}"
                     + (f" ({self.outbox.count()} waiting; {self._outage})" if self._outage
                        else ""))
        else:
            self.say(f"queued {scan.tag_uid}"
                     + (f" ({self._reads_waiting()}: {self._outage})" if self._outage else ""))
        self._wake.set()
        return scan

    def _reads_waiting(self) -> str:
        assert self.sweep is not None
        n = self.outbox.count(self.sweep.campaign_id)
        return f"{n} read{'' if n == 1 else 's'} waiting"

    def _read_ndef(self, event: TagEvent) -> bytes | None:
        """The tag's NDEF message, or None (said on the terminal) when it cannot be read."""
        try:
            with self.reader.session(event) as session:
                return session.read_ndef()
        except ReaderError as exc:
            self.say(f"label of {event.uid} not read: {exc}")
            return None

    @staticmethod
    def _records(message: bytes | None) -> Records:
        if not message:
            return ()
        # ndeflib comes with the pcsc and nfc extras; a wedge-only station has no NDEF.
        from readers.carrier_label import web_nfc_records

        return tuple(web_nfc_records(message))

    def _check_label(self, uid: str, message: bytes) -> None:
        """Warn when the tag's label is not a genuine one of this site."""
        from readers.carrier_label import LabelCheck, decode_label

        assert self.site_keys is not None
        reading = decode_label(message, uid=uid, keys=self.site_keys)
        if reading.check is not LabelCheck.GENUINE:
            self.say(f"warning: {reading.message}")

    def _write_labels(self) -> None:
        """Write the labels the sender found for tags resting on a reader."""
        while True:
            try:
                job = self._labels.get_nowait()
            except queue.Empty:
                return
            event = next((e for e in self._resting.values() if e.uid == job.tag_uid), None)
            if event is not None:  # else lifted meanwhile: asked for again when next placed
                self._write_label(job, event)
            self._labelling.discard(job.id)

    def _write_label(self, job: LabelJob, event: TagEvent) -> None:
        reason: str | None = None
        try:
            with self.reader.session(event) as session:
                session.write_ndef(job.message)
                if session.read_ndef() != job.message:
                    raise TagCommandError(
                        "The tag did not keep the label as written; use another tag.")
        except ReaderError as exc:
            written, reason = False, str(exc)
            self.say(f"label {job.label} not written on {job.tag_uid}: {reason}")
        else:
            written = True
            self.say(f"label {job.label} written on {job.tag_uid}")
        self.reader.signal(event, ok=written)
        try:
            self.client.settle_label_job(job.id, written=written, reason=reason)
        except ServiceError as exc:
            self.say(f"label {job.label}: the server was not told ({exc.describe()}); "
                     "it is written again while the tag rests on the reader.")

    # -- server side -------------------------------------------------------------------------

    def _send_loop(self) -> None:
        backoff = 0.2
        while not self.stop.is_set():
            self._poll_label_jobs()
            batch = self.outbox.pending(self.batch)
            if not batch:
                self._wake.wait(timeout=1.0)
                self._wake.clear()
                continue
            try:
                if not self._in_step and batch[0].campaign_id is None:
                    self._catch_up()
                self._send(batch)
            except ServiceError as exc:
                if batch[0].campaign_id is not None and _campaign_gone(exc):
                    self._campaign_refused(batch[0].campaign_id, exc)
                    continue
                self._failed(exc)
                if exc.retry_after is not None:
                    # The server said when (429: over the station's read budget): sooner is
                    # refused again, later only delays the queue. Kept within the backoff's
                    # bounds: a proxy's "0" must not make a busy loop, nor a huge value a hang.
                    self.stop.wait(min(max(exc.retry_after, 0.2), self.max_backoff))
                    continue
                self.stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            backoff = 0.2

    def _poll_label_jobs(self) -> None:
        """Ask for label jobs while a tag rests on a reader (at most every second); hand those
        for a resting tag to the reader thread."""
        if (self.sweep is not None or not self._label_jobs_served or not self._resting
                or time.monotonic() - self._label_polled < LABEL_POLL_SECONDS):
            return
        self._label_polled = time.monotonic()
        try:
            jobs = self.client.label_jobs()
        except ServiceError as exc:
            if exc.status == 404:  # the route has no parameter: a service without label jobs
                self._label_jobs_served = False
            return  # an outage: the scans' own loop says so
        # A copy made in one step: the reader thread changes the dict meanwhile.
        resting = {e.uid for e in list(self._resting.values())}
        for job in jobs:
            if job.tag_uid in resting and job.id not in self._labelling:
                self._labelling.add(job.id)
                self._labels.put(job)

    def _send(self, batch: list[Scan]) -> None:
        """Deliver a batch; when its content is refused, find the scans at fault one by one."""
        campaign = batch[0].campaign_id
        try:
            if campaign is None:
                results = self.client.post_scans([s.as_read() for s in batch])
            else:
                answer = self.client.post_inventory_reads(
                    campaign, [s.as_inventory_read() for s in batch])
        except ServiceError as exc:
            if not exc.content_refused:
                raise
            if len(batch) == 1:
                self._bury(batch[0], exc)
                return
            for scan in batch:
                self._send([scan])
            return
        if campaign is None:
            self._delivered(batch, results)
        else:
            self._swept(batch, answer)

    def _bury(self, scan: Scan, exc: ServiceError) -> None:
        self.outbox.bury(scan, exc.message, datetime.now(UTC))
        self._events.pop(scan.event_id, None)
        # An inventory read's number only orders the queue: the operator never saw it.
        name = f"#{scan.station_seq} {scan.tag_uid}" if scan.campaign_id is None else scan.tag_uid
        self.say(f"{name} refused by the server: {exc.message} "
                 "Kept aside (mediatrack station status lists it); the next scans go on.")

    def _campaign_refused(self, campaign_id: int, exc: ServiceError) -> None:
        """The service takes no reads for this campaign: keep them aside; stop if it is ours."""
        kept = self.outbox.bury_campaign(campaign_id, exc.message, datetime.now(UTC))
        self.say(f"campaign {campaign_id}: {exc.message} {kept} read(s) of it kept aside "
                 "(mediatrack station status lists them).")
        if self.sweep is not None and self.sweep.campaign_id == campaign_id:
            self.failure = exc.message
            self.stop.set()

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
            if self.sweep is None:
                self.say(f"{trouble} {self.outbox.count()} scan(s) waiting; they will be sent "
                         "when the server takes them.")
            else:
                self.say(f"{self._reads_waiting()}: {trouble} They will be sent when the "
                         "server takes them.")

    def _back(self) -> None:
        if self._outage is not None:
            self._outage = None
            self.say(f"server: taking {'scans' if self.sweep is None else 'reads'} again.")

    def _delivered(self, batch: list[Scan], results: list[dict[str, Any]]) -> None:
        self._back()
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

    def _swept(self, batch: list[Scan], answer: dict[str, Any]) -> None:
        """One line per inventory read, then the shelf's progress."""
        self._back()
        sent = {s.event_id: s for s in batch}
        results = [r for r in answer["results"] if r["event_id"] in sent]
        self.outbox.acknowledge([r["event_id"] for r in results])
        for result in results:
            scan, read_class = sent[result["event_id"]], str(result["class"])
            good = read_class in GOOD_CLASSES
            label = f" {result['label']}" if result.get("label") else ""
            notes = ("(again) " if result.get("replayed") else "") + (
                "(read before in this sweep; counted once) " if result.get("duplicate") else "")
            self.say(f"{read_class.replace('_', ' ').upper()} {scan.tag_uid}{label}: {notes}"
                     f"{result.get('message', '')}{'' if good else BELL}")
            event = self._events.pop(scan.event_id, None)
            if event is not None:
                self.reader.signal(event, ok=good)
        shelf = answer.get("shelf")
        if shelf:
            name = str(shelf["path"]).rsplit(PATH_SEPARATOR, 1)[-1]
            line = f"{name} ({shelf['code']}): {shelf['seen']} of {shelf['expected']} seen"
            self.say(line)
            if self.sweep is not None and self.sweep.campaign_id == batch[0].campaign_id:
                self.outbox.keep_shelf(self.sweep.campaign_id, line)


def _campaign_gone(exc: ServiceError) -> bool:
    """The service itself (its own error code, not a proxy's page) says the campaign does not
    exist (404) or takes no more reads (409, closed): retrying cannot help."""
    return exc.status in (404, 409) and exc.code is not None


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
    parser.add_argument("--mode", choices=("desk", "inventory"), default="desk",
                        help="desk: each tap is a scan (default); inventory: each tap is a read "
                        "of a shelf sweep in --campaign")
    parser.add_argument("--campaign", type=int, metavar="ID",
                        help="the inventory campaign's number (inventory mode only)")
    _key_option(parser)
    _outbox_option(parser)
    parser.add_argument("--site-keys", type=Path,
                        help="site key file; when given, each tag's label is checked offline")
    parser.add_argument("--batch", type=int, default=100, help="scans per request (1-500)")
    parser.add_argument("--max-backoff", type=float, default=30.0,
                        help="longest wait in seconds between retries while the server is down")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    if args.mode == "inventory" and args.campaign is None:
        print("Inventory mode needs the campaign: pass --campaign ID (the number on the "
              "campaign's page).", file=sys.stderr)
        return 2
    if args.mode == "desk" and args.campaign is not None:
        print("--campaign goes with --mode inventory; a desk station sweeps no campaign.",
              file=sys.stderr)
        return 2
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
                         max_backoff=args.max_backoff, campaign=args.campaign)

    def stop(signum: int, frame: FrameType | None) -> None:
        agent.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    mode = "" if args.campaign is None else f"inventory of campaign {args.campaign}, "
    agent.say(f"station agent: {mode}reader {args.reader}, server {args.server}.")
    try:
        agent.run()
    finally:
        reader.close()
        client.close()
        outbox.close()
    if agent.failure is not None:
        print(f"Stopped: {agent.failure}", file=sys.stderr)
        return 1
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
    waiting = outbox.waiting()
    print(f"{waiting.pop(None, 0)} scan(s) waiting to be sent.", file=out)
    for campaign, n in waiting.items():
        print(f"{n} inventory read(s) of campaign {campaign} waiting to be sent.", file=out)
    dead = outbox.dead_letters()
    if not dead:
        return
    print(f"{len(dead)} scan(s) refused by the server and kept aside (not sent again):",
          file=out)
    for letter in dead:
        scan = letter.scan
        what = (f"#{scan.station_seq}" if scan.campaign_id is None
                else f"campaign {scan.campaign_id}")
        print(f"  {what} {scan.tag_uid} read {scan.read_at}, refused "
              f"{letter.refused_at}: {letter.reason}", file=out)


if __name__ == "__main__":
    sys.exit(main())
