"""An app is freed once nothing uses it: a test run builds one per test, and apps kept alive
(each with its engine, its routes' dependency trees and its compiled statements) made the run
hold gigabytes and its garbage collections last seconds."""

from __future__ import annotations

import gc
import sys
import weakref

from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.main import SWITCH_INTERVAL, create_app


def test_an_app_is_freed_after_use(settings: Settings) -> None:
    def use() -> weakref.ref[FastAPI]:
        app = create_app(settings)
        with TestClient(app, raise_server_exceptions=False) as client:
            assert client.get("/openapi.json").status_code == 200
        app.state.engine.dispose()
        return weakref.ref(app)

    gone = use()
    gc.collect()
    assert gone() is None, "something still holds the app (see gc.get_referrers)"


def test_a_served_app_freezes_what_its_start_built(settings: Settings) -> None:
    """``mediatrack serve``'s app puts what its start built out of the collector's reach (a
    full collection walked it all, a pause of every thread) and lengthens the interpreter's
    switch interval; an app built per test does neither (frozen, every app a test run built
    would be kept until the run ends)."""
    assert gc.get_freeze_count() == 0
    default = sys.getswitchinterval()
    try:
        with TestClient(create_app(settings)):
            assert gc.get_freeze_count() == 0
            assert sys.getswitchinterval() == default
        with TestClient(create_app(settings, serving=True)):
            assert gc.get_freeze_count() > 10_000
            assert sys.getswitchinterval() == SWITCH_INTERVAL != default
    finally:
        gc.unfreeze()
        sys.setswitchinterval(default)
