"""The README's first command, piece by piece: `mediatrack demo --reset` then `mediatrack serve`
on the embedded SQLite database (schema created on start), and `mediatrack db upgrade` on any
database URL."""

from __future__ import annotations

import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from readers.carrier_label import parse_keys
from tests.support.cli import MEDIATRACK, cli_env
from tests.support.ports import free_port
from tests.support.wait import wait_for


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MEDIATRACK, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture
def embedded_env(tmp_path: Path) -> dict[str, str]:
    return cli_env(tmp_path)


@pytest.fixture
def server(embedded_env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [*MEDIATRACK, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=embedded_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(
                f"mediatrack serve exited: {proc.stdout.read() if proc.stdout else ''}"
            )
        try:
            return httpx.get(f"{base}/openapi.json", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(up, 60, "mediatrack serve to answer")
    yield base
    proc.terminate()
    proc.wait(timeout=30)


def test_demo_then_serve(embedded_env: dict[str, str], server: str) -> None:
    # The server created the schema on the empty embedded database; now load the demo into it
    # while it runs (WAL: the loader and the server share the file).
    loaded = run(["demo"], embedded_env)
    assert loaded.returncode == 0, loaded.stderr
    assert "carriers" in loaded.stdout and "overdue" in loaded.stdout
    assert httpx.get(f"{server}/docs").status_code == 200
    token = httpx.post(
        f"{server}/api/v1/auth/token", data={"username": "clerk", "password": "demo-password-1"}
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    overdue = httpx.get(f"{server}/api/v1/overdue", headers=headers).json()
    assert len(overdue["loans"]) == 1
    in_transit = httpx.get(
        f"{server}/api/v1/carriers", params={"status": "in_transit"}, headers=headers
    ).json()
    assert in_transit["count"] == 1
    carriers = httpx.get(f"{server}/api/v1/carriers", params={"limit": 1}, headers=headers).json()
    assert carriers["count"] >= 300
    kinds = {
        c["kind"]
        for c in httpx.get(
            f"{server}/api/v1/carriers", params={"limit": 500}, headers=headers
        ).json()["data"]
    }
    assert {"CD", "DVD", "BD", "M-DISC", "LTO-5", "LTO-10"} <= kinds
    # The demo station's key file works against the running service.
    key = (
        (Path(embedded_env["MEDIATRACK_DATA_DIR"]) / "station-archive-desk-1.key")
        .read_text()
        .strip()
    )
    scan = httpx.post(
        f"{server}/api/v1/scans",
        headers={"X-API-Key": key},
        json={
            "reads": [
                {
                    "event_id": "5f0c7f9e-2b1a-4c8e-9d3f-1a2b3c4d5e6f",
                    "station_seq": 1,
                    "tag_uid": "04000000000180",  # demo carrier 1 (NTAG, 7 bytes)
                    "technology": "iso14443a",
                    "read_at": "2026-11-28T10:00:00Z",
                }
            ]
        },
    )
    assert scan.status_code == 200, scan.text
    assert scan.json()["results"][0]["outcome"] == "seen"
    verified = run(["audit", "verify"], embedded_env)
    assert verified.returncode == 0 and "intact" in verified.stdout


def test_demo_twice_is_refused_and_reset_reloads(embedded_env: dict[str, str]) -> None:
    assert run(["demo"], embedded_env).returncode == 0
    again = run(["demo"], embedded_env)
    assert again.returncode == 1
    assert "already" in again.stderr
    site_keys = Path(embedded_env["MEDIATRACK_DATA_DIR"]) / "site.keys"
    key = parse_keys(site_keys.read_text())
    assert list(key) == [1] and len(key[1]) == 32
    assert stat.S_IMODE(site_keys.stat().st_mode) == 0o600
    assert run(["demo", "--reset"], embedded_env).returncode == 0
    # Labels already written with the key stay valid: a reset keeps it.
    assert parse_keys(site_keys.read_text()) == key


def test_db_upgrade_on_configured_database(db_url: str, tmp_path: Path) -> None:
    done = run(["db", "upgrade"], cli_env(tmp_path, DATABASE_URL=db_url))
    assert done.returncode == 0, done.stderr
    assert "Schema at revision" in done.stdout
