"""A fault-injecting TCP proxy between station agents and the service (the chaos harness's).

It listens on a port of its own and forwards to ``upstream`` (the service's current port; None
while the service is down, when every connection is closed at once). Each chunk a client sends
(an HTTP request, or a part of one) draws its fate from a seeded generator:

- ``pass``: forwarded, and so is the answer;
- ``drop``: the connection is closed (FIN) without forwarding;
- ``hang``: nothing is forwarded and nothing answered until the client gives up and closes;
- ``reset``: the connection is reset (RST, SO_LINGER 0) without forwarding;
- ``answer_lost``: forwarded, the service's answer awaited, then the connection is closed
  instead of passing it on: the service committed, the client never heard.

A connection that drew a fault ends with it; ``faults`` counts the draws by kind.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import threading
from collections import Counter
from collections.abc import Mapping

from tests.support.ports import free_port
from tests.support.wait import wait_for

KINDS = ("pass", "drop", "hang", "reset", "answer_lost")
HANG_LIMIT = 120.0  # a hung connection is closed after this, should a client never give up


class FaultProxy:
    def __init__(self, weights: Mapping[str, float], seed: int) -> None:
        assert set(weights) <= set(KINDS), weights
        self.kinds = list(weights)
        self.weights = [weights[k] for k in self.kinds]
        self.rng = random.Random(seed)
        self.port = free_port()
        self.upstream: int | None = None  # the service's port; None while it is down
        self.faults: Counter[str] = Counter()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name=f"fault-proxy-{self.port}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._connection, "127.0.0.1", self.port), self._loop)
        self._server = future.result(timeout=10)

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        wait_for(lambda: not self._loop.is_running(), 10, "the proxy's loop to stop")
        self._loop.close()

    def _draw(self) -> str:
        kind = self.rng.choices(self.kinds, self.weights)[0]
        self.faults[kind] += 1
        return kind

    async def _connection(self, client: asyncio.StreamReader, to_client: asyncio.StreamWriter
                          ) -> None:
        port = self.upstream
        try:
            if port is None:
                raise ConnectionRefusedError
            service, to_service = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            to_client.close()  # as a service that is down: the client retries
            return
        lose = asyncio.Event()  # set: the next answer is cut instead of passed on
        down = asyncio.create_task(self._answers(service, to_client, lose))
        try:
            await self._requests(client, to_client, to_service, lose)
        except (ConnectionError, TimeoutError, asyncio.CancelledError):
            pass
        finally:
            if not lose.is_set():
                down.cancel()
                to_client.close()
            else:
                # The answer's task ends the connection once the service has answered.
                await asyncio.wait([down], timeout=HANG_LIMIT)
            to_service.close()

    async def _requests(self, client: asyncio.StreamReader, to_client: asyncio.StreamWriter,
                        to_service: asyncio.StreamWriter, lose: asyncio.Event) -> None:
        """Client to service, chunk by chunk, each drawing its fate (until one is a fault)."""
        while data := await client.read(65536):
            kind = "pass" if lose.is_set() else self._draw()
            if kind == "drop":
                return
            if kind == "reset":
                sock = to_client.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                to_client.transport.abort()
                return
            if kind == "hang":
                # Read and throw away until the client closes (its timeout), or the limit.
                async def drain() -> None:
                    while await client.read(65536):
                        pass

                await asyncio.wait_for(drain(), HANG_LIMIT)
                return
            if kind == "answer_lost":
                lose.set()
            # After "answer_lost" the rest of the request goes on too: the service must get
            # all of it to commit; the answer's task then cuts the connection.
            to_service.write(data)
            await to_service.drain()

    @staticmethod
    async def _answers(service: asyncio.StreamReader, to_client: asyncio.StreamWriter,
                       lose: asyncio.Event) -> None:
        """Service to client; once ``lose`` is set, the first answer bytes close the client's
        connection instead."""
        try:
            while data := await service.read(65536):
                if lose.is_set():
                    break
                to_client.write(data)
                await to_client.drain()
        except ConnectionError:
            pass
        finally:
            to_client.close()
