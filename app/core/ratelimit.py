"""Each station's read budget: a token bucket per station, in this process's memory.

A station's reads are counted, not its requests: a batch of 500 reads costs 500, as 500 single
taps would, so batching does not buy a runaway reader a way round the limit. A request that
would overdraw the budget takes nothing from it and is refused whole (429) with the seconds
after which it fits (Retry-After); the station agent keeps it in its outbox and sends it again
then, so nothing is lost, only slowed down.

Per process: with ``--workers N`` or several instances a station's budget is N times the
setting at most (a request lands on one process). That still bounds a runaway reader, which is
the point; an exact shared budget would cost a database write per request.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from app.core.errors import TooManyRequestsError
from app.core.principal import Principal


class ReadBudget:
    """``rate`` reads a second on average, ``burst`` at once, per station."""

    def __init__(
        self, *, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[int, tuple[float, float]] = {}  # station id -> (reads left, when)
        self._lock = threading.Lock()

    def take(self, principal: Principal, reads: int) -> None:
        """Spend ``reads`` of the calling station's budget, or refuse the request (429).

        Staff (a clerk sweeping with a phone) are not limited: the budget is for readers.
        """
        if principal.station_id is None:
            return
        now = self._clock()
        with self._lock:
            left, when = self._buckets.get(principal.station_id, (float(self.burst), now))
            left = min(float(self.burst), left + (now - when) * self.rate)
            if left < reads:
                self._buckets[principal.station_id] = (left, now)
                wait = max(1, math.ceil((reads - left) / self.rate))
                raise TooManyRequestsError(
                    "This station sent more reads than the server takes from one station "
                    "({rate:g} a second); send these again in {wait} seconds.",
                    rate=self.rate, wait=wait,
                    retry_after=wait,
                )
            self._buckets[principal.station_id] = (left - reads, now)
