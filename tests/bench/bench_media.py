"""Benchmark: manifest hashing against ``sha256sum``, and importing a 5,000-instance disc.

Run:  .venv/bin/python -m tests.bench.bench_media [--instances 5000] [--rows 256]

1. Hashing throughput: the files are hashed by MediaTrack's reader (``read_files``) and by
   coreutils ``sha256sum`` on the same files, warm in the page cache, best of three each; the
   ratio is MediaTrack's throughput over sha256sum's (goal: at least 0.9).
2. Import: a generated DICOMDIR File-set of N instances is imported (``read_medium``: read,
   hash, scan headers, parse and walk the DICOMDIR) and compared with just reading the same
   files with the same buffer. Measured twice: warm (page cache, so CPU-bound: the worst case
   for the ratio) and cold (each file's pages dropped with posix_fadvise DONTNEED before the
   run, so the device is read, as a drive would be). Cold, the files are also just read with
   the reader's own read-ahead advice (``Prefetch``): the fastest this device delivers them,
   a stricter floor than one read call at a time.

``measure(...)`` returns the figures; ``main`` prints them as a Markdown table to paste into
docs/performance.md.
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

from app.media.reading import CHUNK_SIZE, Prefetch, read_files, read_medium
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


def just_read(paths: list[Path], *, prefetch: bool = False) -> int:
    """The floor: read every byte once with the reader's own buffer size, do nothing else.

    With ``prefetch``, the reader's read-ahead advice runs as in an import.
    """
    advice = Prefetch([(p, p.stat().st_size) for p in paths]) if prefetch else None
    buffer = bytearray(CHUNK_SIZE)
    total = 0
    for path in paths:
        if advice is not None:
            advice.read(0)
        with open(path, "rb", buffering=0) as f:
            while n := f.readinto(buffer):
                total += n
                if advice is not None:
                    advice.read(n)
    return total


def mediatrack_hash(root: Path, paths: list[Path]) -> None:
    names = [
        (p.relative_to(root).as_posix(), p.relative_to(root).as_posix(), p.stat().st_size)
        for p in paths
    ]
    for _ in read_files(root, names):
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
    cold_read_prefetch = cold(lambda: just_read(paths, prefetch=True))
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
        "cold_read_prefetch_s": cold_read_prefetch,
        "cold_import_s": cold_import,
        "cold_ratio": cold_import / cold_read,
        "cold_ratio_prefetch": cold_import / cold_read_prefetch,
    }


def measure(
    *, instances: int = 5000, rows: int = 256, hash_files: int = 32, hash_file_mib: int = 32
) -> dict[str, float]:
    """Both measurements in a temporary folder, deleted after; the figures by name.

    Keys: ``hash_*`` (MB/s and the ratio to sha256sum) and ``import_*`` (seconds and ratios,
    see ``bench_import``); ``cpus`` is the machine's CPU count.
    """
    with tempfile.TemporaryDirectory(prefix="mediatrack-bench-") as tmp:
        work = Path(tmp)
        hashing = bench_hashing(work, files=hash_files, size=hash_file_mib << 20)
        importing = bench_import(work, instances=instances, rows=rows)
    return {
        "cpus": float(os.cpu_count() or 0),
        **{f"hash_{k}": v for k, v in hashing.items()},
        **{f"import_{k}": v for k, v in importing.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=5000)
    parser.add_argument("--rows", type=int, default=256, help="image rows = columns (16-bit)")
    parser.add_argument("--hash-files", type=int, default=32)
    parser.add_argument("--hash-file-mib", type=int, default=32)
    args = parser.parse_args()
    m = measure(
        instances=args.instances,
        rows=args.rows,
        hash_files=args.hash_files,
        hash_file_mib=args.hash_file_mib,
    )
    rows = [
        ("MediaTrack SHA-256 (read_files, 1 MiB reads)", f"{m['hash_mediatrack_mb_s']:.0f} MB/s"),
        ("coreutils sha256sum, same files", f"{m['hash_sha256sum_mb_s']:.0f} MB/s"),
        ("**throughput ratio MediaTrack / sha256sum**", f"**{m['hash_ratio']:.2f}** (goal >= 0.9)"),
        (
            f"disc: {m['import_instances']:.0f} instances, {m['import_files']:.0f} files, "
            f"{m['import_bytes'] / 1e6:.0f} MB",
            f"generated in {m['import_generate_s']:.1f} s",
        ),
        ("just reading the files, warm cache", f"{m['import_warm_read_s']:.2f} s"),
        ("import (read, hash, scan, DICOMDIR), warm cache", f"{m['import_warm_import_s']:.2f} s"),
        ("import / read, warm cache (CPU-bound)", f"{m['import_warm_ratio']:.2f}"),
        ("just reading the files, cold (pages dropped)", f"{m['import_cold_read_s']:.2f} s"),
        (
            "just reading the files with the reader's read-ahead advice, cold",
            f"{m['import_cold_read_prefetch_s']:.2f} s",
        ),
        ("import, cold", f"{m['import_cold_import_s']:.2f} s"),
        ("**import / read, cold**", f"**{m['import_cold_ratio']:.2f}** (goal <= 1.1)"),
        ("import / read with read-ahead advice, cold", f"{m['import_cold_ratio_prefetch']:.2f}"),
    ]
    print(f"Machine: {m['cpus']:.0f} CPUs. Hashing: {args.hash_files} x {args.hash_file_mib} MiB.")
    print()
    print("| measure | value |")
    print("|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")

if __name__ == "__main__":
    main()
