"""A real uvicorn server on a free loopback port, in a thread of the test process."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from tests.support.ports import free_port
from tests.support.wait import wait_for


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    port = free_port()
    # log_config=None: leave the process's logging alone (uvicorn's default config stops its
    # loggers propagating, which would hide them from later tests' log capture).
    # timeout_keep_alive: a server may close an idle connection just as its client sends on it
    # again, and the client must not retry a POST it cannot know went unanswered (RFC 9112
    # 9.3.1). With uvicorn's 5 s default, that race failed a CI run: the race test's clients
    # wait for one another between requests, and a stall in the busy test process let a
    # connection sit idle for 5 s. The tests' clients close their connections themselves.
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", workers=1,
                            log_config=None, timeout_keep_alive=3600)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 20, "uvicorn to start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
