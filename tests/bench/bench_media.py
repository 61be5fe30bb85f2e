"""Benchmark: manifest hashing against ``sha256sum``, and importing a 5,000-instance disc.

Run:  .venv/bin/python -m tests.bench.bench_media [--instances 5000] [--rows 256]

1. Hashing throughput: the files are hashed by MediaTrack's reader (``ReadAhead``) and by
   coreutils ``sha256sum`` on the same files, warm in the page cache, best of three each; the
   ratio is MediaTrack's throughput over sha256sum's (goal: at least 0.9).
2. Import: a generated DICOMDIR File-set of N instances is imported (``read_medium``: read,
   hash, parse headers, walk the DICOMDIR) and compared with just reading the same files with
   the same buffer. Measured twice: warm (page cache, so CPU-bound: the worst case for the
   ratio) and cold (each file's pages dropped with posix_fadvise DONTNEED before the run, so
   the device is read, as a drive would be).

Prints a Markdown table to paste into docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from app.media.reading import CHUNK_SIZE, ReadAhead, read_medium
from tests.app.media import factory

REPEATS = 3


def best_of(run: Callable[[], object], repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def drop_cache(paths: list[Path]) -> None:
    """Evict the files' clean pages (no privileges needed, unlike /proc/sys/vm/drop_caches)."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def just_read(paths: list[Path]) -> int:
    """The floor: read every byte once with the reader's own buffer size, do nothing else."""
    buffer = bytearray(CHUNK_SIZE)
    total = 0
    for path in paths:
        with open(path, "rb", buffering=0) as f:
            while n := f.readinto(buffer):
                total += n
    return total


def mediatrack_hash(root: Path, paths: list[Path]) -> None:
    names = [(p.relative_to(root).as_posix(), p.relative_to(root).as_posix()) for p in paths]
    with ReadAhead(root, names) as reads:
        for _ in reads:
            pass


def sha256sum(paths: list[Path]) -> None:
    subprocess.run(["sha256sum", *map(str, paths)], check=True, stdout=subprocess.DEVNULL)


def bench_hashing(work: Path, *, files: int, size: int) -> dict[str, float]:
    root = work / "hash"
    root.mkdir()
    block = os.urandom(1 << 20)
    for n in range(files):
        with open(root / f"F{n:04d}", "wb") as f:
            for _ in range(size >> 20):
                f.write(block)
    paths = all_files(root)
    total = sum(p.stat().st_size for p in paths)
    just_read(paths)  # warm the cache
    ours = best_of(lambda: mediatrack_hash(root, paths))
    theirs = best_of(lambda: sha256sum(paths))
    return {
        "bytes": total,
        "mediatrack_mb_s": total / ours / 1e6,
        "sha256sum_mb_s": total / theirs / 1e6,
        "ratio": theirs / ours,
    }


def bench_import(work: Path, *, instances: int, rows: int) -> dict[str, float]:
    per_study = 250
    specs = [
        factory.StudySpec(f"BENCH{n:03d}", [factory.SeriesSpec("CT", per_study, rows=rows)])
        for n in range(instances // per_study)
    ]
    root = work / "disc"
    start = time.perf_counter()
    factory.write_fileset(root, specs, fileset_id="BENCH0001")
    shutil.rmtree(work / "disc-staging")
    generated = time.perf_counter() - start
    paths = all_files(root)
    total = sum(p.stat().st_size for p in paths)

    reading = read_medium(root, label="BENCH0001")
    assert reading.instance_count == instances and not reading.problems, reading.problems[:3]

    just_read(paths)
    warm_read = best_of(lambda: just_read(paths))
    warm_import = best_of(lambda: read_medium(root, label="BENCH0001"))

    def cold(run: Callable[[], object]) -> float:
        def once() -> None:
            drop_cache(paths)
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)

        times: list[float] = []
        for _ in range(REPEATS):
            once()
        return min(times)

    cold_read = cold(lambda: just_read(paths))
    cold_import = cold(lambda: read_medium(root, label="BENCH0001"))
    return {
        "instances": instances,
        "files": len(paths),
        "bytes": total,
        "generate_s": generated,
        "warm_read_s": warm_read,
        "warm_import_s": warm_import,
        "warm_ratio": warm_import / warm_read,
        "cold_read_s": cold_read,
        "cold_import_s": cold_import,
        "cold_ratio": cold_import / cold_read,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=5000)
    parser.add_argument("--rows", type=int, default=256, help="image rows = columns (16-bit)")
    parser.add_argument("--hash-files", type=int, default=32)
    parser.add_argument("--hash-file-mib", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mediatrack-bench-") as tmp:
        work = Path(tmp)
        h = bench_hashing(work, files=args.hash_files, size=args.hash_file_mib << 20)
        i = bench_import(work, instances=args.instances, rows=args.rows)
    cpus = os.cpu_count()
    print(f"Machine: {cpus} CPUs. Hashing: {args.hash_files} files x {args.hash_file_mib} MiB.")
    print()
    print("| measure | value |")
    print("|---|---|")
    print(f"| MediaTrack SHA-256 (reader thread, 1 MiB reads) | {h['mediatrack_mb_s']:.0f} MB/s |")
    print(f"| coreutils sha256sum, same files | {h['sha256sum_mb_s']:.0f} MB/s |")
    print(f"| **throughput ratio MediaTrack / sha256sum** | **{h['ratio']:.2f}** (goal >= 0.9) |")
    print(
        f"| disc: {i['instances']:.0f} instances, {i['files']:.0f} files, "
        f"{i['bytes'] / 1e6:.0f} MB | generated in {i['generate_s']:.1f} s |"
    )
    print(f"| just reading the files, warm cache | {i['warm_read_s']:.2f} s |")
    print(f"| import (read + hash + parse + DICOMDIR), warm cache | {i['warm_import_s']:.2f} s |")
    print(f"| import / read, warm cache (CPU-bound) | {i['warm_ratio']:.2f} |")
    print(f"| just reading the files, cold (pages dropped) | {i['cold_read_s']:.2f} s |")
    print(f"| import, cold (pages dropped) | {i['cold_import_s']:.2f} s |")
    print(f"| **import / read, cold** | **{i['cold_ratio']:.2f}** (goal <= 1.1) |")


if __name__ == "__main__":
    main()
