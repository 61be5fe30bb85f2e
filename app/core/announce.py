"""Messages that leave a transaction only when it commits, to whoever listens in any process.

A service calls :func:`announce` inside its transaction. On PostgreSQL the message is a
``pg_notify`` in that same transaction: PostgreSQL delivers it to every listening connection when,
and only when, the transaction commits (NOTIFY payloads are at most 8000 bytes: send ids, not
documents). Each service process runs one :class:`Listener` that LISTENs and hands messages to
its :class:`Hub`. On SQLite (one process) the message waits in the session and goes to the hub
after the commit. Either way a listener never hears of a change it cannot yet read.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session

log = logging.getLogger("mediatrack.announce")

_PENDING = "mediatrack_announce"


@dataclass(eq=False)
class Subscription:
    """One listener of one channel (a desk page's stream): its queue and its event loop."""

    channel: str
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[str] = field(default_factory=asyncio.Queue)


class Hub:
    """The process's fan-out: thread-safe publish to asyncio subscribers."""

    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        self._lock = threading.Lock()

    def subscribe(self, channel: str) -> Subscription:
        sub = Subscription(channel, asyncio.get_running_loop())
        with self._lock:
            self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.discard(sub)

    def publish(self, channel: str, payload: str) -> None:
        with self._lock:
            targets = [s for s in self._subs if s.channel == channel]
        for sub in targets:
            try:
                sub.loop.call_soon_threadsafe(sub.queue.put_nowait, payload)
            except RuntimeError:  # that page's loop is closed: it is going away
                self.unsubscribe(sub)


# The hub of each engine's process-local listeners (tests run many apps in one process).
_hubs: WeakKeyDictionary[Engine, Hub] = WeakKeyDictionary()
_hubs_lock = threading.Lock()


def hub_for(engine: Engine) -> Hub:
    with _hubs_lock:
        if engine not in _hubs:
            _hubs[engine] = Hub()
        return _hubs[engine]


def announce(session: Session, channel: str, payload: str) -> None:
    """Send ``payload`` on ``channel`` when this session's transaction commits."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(select(func.pg_notify(channel, payload)))
        return
    # Kept with the (sub)transaction it was said in: a rolled-back SAVEPOINT takes its own
    # messages along (see app.core.writer), as PostgreSQL does with a NOTIFY.
    said_in = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_PENDING, []).append((said_in, channel, payload))


@event.listens_for(Session, "after_commit")
def _deliver(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a SAVEPOINT was released (the event fires for those too): not committed yet
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    bind = session.get_bind()
    hub = _hubs.get(bind) if isinstance(bind, Engine) else None
    if hub is None:
        return  # nobody in this process listens (the command line, a test without pages)
    for _, channel, payload in pending:
        hub.publish(channel, payload)


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, rolled_back: SessionTransaction) -> None:
    """Drop what was said in the rolled-back transaction or in any savepoint inside it."""

    def inside(transaction: SessionTransaction | None) -> bool:
        while transaction is not None:
            if transaction is rolled_back:
                return True
            transaction = transaction.parent
        return False

    pending = session.info.get(_PENDING)
    if pending:
        session.info[_PENDING] = [item for item in pending if not inside(item[0])]


# Published on every channel after the listener reconnects: messages may have been missed.
RESYNC = '{"resync": true}'


class Listener:
    """LISTENs on PostgreSQL channels in a thread and hands every message to the hub."""

    def __init__(self, engine: Engine, channels: list[str]) -> None:
        self.engine = engine
        self.channels = channels
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ready = threading.Event()

    def start(self) -> None:
        # An app may start again after a stop (a test client per test): begin afresh.
        self._stop.clear()
        self.ready.clear()
        if self.engine.dialect.name != "postgresql":
            self.ready.set()
            return
        self._thread = threading.Thread(target=self._run, name="announce-listener", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        import psycopg

        url = make_url(self.engine.url.render_as_string(hide_password=False))
        conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        hub = hub_for(self.engine)
        lost = False
        while not self._stop.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True) as conn:
                    for channel in self.channels:
                        conn.execute(f'LISTEN "{channel}"')
                    self.ready.set()
                    if lost:
                        # What was announced while nobody listened is gone: tell every
                        # subscriber to read the current state again.
                        for channel in self.channels:
                            hub.publish(channel, RESYNC)
                        lost = False
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.5):
                            hub.publish(note.channel, note.payload)
            except Exception as exc:  # never let the thread die: the desks would go quiet
                self.ready.clear()
                lost = True
                log.warning("listener lost its connection (%s); reconnecting", type(exc).__name__)
                self._stop.wait(1.0)

