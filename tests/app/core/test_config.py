"""Secrets kept in files: created once, whole, and the same for every process that starts at
once (``mediatrack serve --workers``)."""

from __future__ import annotations

import multiprocessing
import os
import stat
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

from app.core.config import Settings, read_or_create


def _create(path: Path, together: Barrier, out: Queue[bytes]) -> None:
    def make() -> bytes:
        # Every process is here, having found no file, before any of them writes one.
        together.wait(timeout=60)
        return os.urandom(16).hex().encode()

    out.put(read_or_create(path, make))


def test_processes_creating_at_once_all_get_the_same_secret(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    spawn = multiprocessing.get_context("spawn")
    together, out = spawn.Barrier(4), spawn.Queue()
    workers = [spawn.Process(target=_create, args=(path, together, out)) for _ in range(4)]
    for worker in workers:
        worker.start()
    made = [out.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert len(set(made)) == 1
    assert path.read_bytes() == made[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret.key"]  # nothing left beside it


def test_the_settings_secret_is_created_once_then_read(tmp_path: Path) -> None:
    first = Settings(DATA_DIR=tmp_path / "data", SECRET_KEY="").secret_key
    assert len(first) >= 32
    assert Settings(DATA_DIR=tmp_path / "data", SECRET_KEY="").secret_key == first
    kept = read_or_create(tmp_path / "data" / "secret.key", lambda: b"other")
    assert kept.decode().strip() == first


def test_the_site_keys_are_the_configured_file_else_the_data_folders_when_there(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    assert Settings(DATA_DIR=data).site_keys_file is None
    data.mkdir()
    (data / "site.keys").write_text("1 " + "00" * 32 + "\n")
    assert Settings(DATA_DIR=data).site_keys_file == data / "site.keys"
    configured = tmp_path / "elsewhere.keys"
    assert Settings(DATA_DIR=data, SITE_KEYS_FILE=configured).site_keys_file == configured
