"""The benchmark of issue 10: every goal of "speed at archive scale" measured in one run.

    .venv/bin/python -m tests.bench [--sizes 10000,100000,1000000] [--db sqlite,postgres]
                                    [--workers N] [--quick] [--skip log,media] [--out docs]

(``make bench`` installs what it needs first: ``wrk`` and matplotlib.) For each database it
seeds a fresh archive (bulk inserts, grown in place from one size to the next; first ten log events
per carrier of the largest size, from bench_audit), and at each size measures:

- service level, one committed transaction each: a scan resolved and logged, "where is it" by
  patient ID with issuer, accession, study UID, label and tag (bench_service.measure);
- through HTTP, on a real ``mediatrack serve`` process started here (``--workers N`` on
  PostgreSQL): single-read scans from
  1, 2, 4, 8 and 16 stations (``wrk``, one connection per station), against a bare FastAPI
  endpoint (its own uvicorn process, same body, same run); check-out and return, one clerk
  after the other; batch ingest of inventory sweep reads (bench_inventory.measure); the
  service's memory from /proc after all of it.

Then, once per database at the largest size, ``audit verify`` (bench_audit), and once for the
run, a disc's import against just reading it, cold (bench_media). It prints the goal table
(Markdown), a table of every size, and writes docs/perf-latency.png, docs/perf-throughput.png
and docs/perf-results.json. --quick: 10,000 carriers, short runs, a small disc (minutes).
--skip log leaves out the log events and audit verify (the longest part), --skip media the
disc.
Scratch data lives in a temporary folder and the PostgreSQL database ``mediatrack_bench``,
both removed at the end; servers are stopped even when a measurement fails.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, func, select

from app.audit.models import CustodyEvent
from tests.bench import bench_audit, bench_http, bench_inventory, bench_media, bench_service
from tests.bench.bench_service import pct, uid

STATIONS = (1, 2, 4, 8, 16)
EVENTS_PER_CARRIER = 10
SECRET = "bench-secret-" + "b" * 32
MB = 1e6


def _summary(samples: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    return {
        name: {"median_ms": statistics.median(s), "p99_ms": pct(s, 0.99), "runs": len(s)}
        for name, s in samples.items()
    }


def _events(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(CustodyEvent)).scalar_one())


def _check_scan(base: str, key: str) -> None:
    """One scan before the load: the seeded tags must resolve, or every figure is wrong."""
    read = {"event_id": str(uuid.uuid4()), "station_seq": 1, "tag_uid": uid(1),
            "technology": "iso14443a", "read_at": datetime.now(UTC).isoformat()}
    answer = httpx.post(f"{base}/api/v1/scans", json={"reads": [read]},
                        headers={"X-API-Key": key}, timeout=60)
    answer.raise_for_status()
    outcome = answer.json()["results"][0]["outcome"]
    if outcome != "seen":
        raise RuntimeError(f"a seeded tag's scan came back {outcome!r}, not 'seen'")


def measure_size(
    engine: Engine, workdir: Path, url: str, carriers: int, opts: argparse.Namespace
) -> dict[str, Any]:
    figures: dict[str, Any] = {"carriers": carriers, "events": _events(engine)}
    print(f"  service level ({figures['events']:,} events in the log)", flush=True)
    figures["service"] = _summary(
        bench_service.measure(engine, carriers=carriers, runs=opts.runs, secret=SECRET)
    )
    token = bench_inventory.clerk_token(engine, carriers, SECRET)
    workers = opts.workers if engine.dialect.name == "postgresql" else 1
    with (
        bench_http.service(workdir, url, SECRET, workers) as (base, pid),
        bench_http.bare(workdir) as (bare_base, _),
    ):
        _check_scan(base, bench_service.new_station(engine, f"check{carriers}")[1])
        scans, floor = {}, {}
        for n in STATIONS:
            keys = [
                bench_service.new_station(engine, f"s{carriers}x{n}n{i}")[1] for i in range(n)
            ]
            print(f"  HTTP scans, {n} station(s), {opts.seconds:.0f} s each", flush=True)
            scans[n] = bench_http.wrk(base, keys=keys, carriers=carriers, seconds=opts.seconds)
            floor[n] = bench_http.wrk(
                bare_base, keys=keys, carriers=carriers, seconds=opts.seconds
            )
            print(f"    {scans[n]['per_s']:,.0f}/s (bare {floor[n]['per_s']:,.0f}/s), "
                  f"p99 {scans[n]['p99_ms']:.1f} ms", flush=True)
        figures["http_scans"], figures["http_bare"] = scans, floor
        print(f"  custody through HTTP: {opts.pairs} check-outs and returns", flush=True)
        figures["custody"] = _summary(
            bench_http.custody(base, token, carriers=carriers, pairs=opts.pairs)
        )
        print(f"  batch ingest, {opts.seconds:.0f} s of sweeping", flush=True)
        figures["ingest"] = bench_inventory.measure(
            engine, base, token, carriers=carriers, seconds=opts.seconds
        )
        figures["memory"] = bench_http.memory(pid)
    return figures


def run_database(db: str, opts: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"sizes": {}}
    with bench_service.scratch_database(db, opts.postgres_url) as (workdir, url, engine):
        bench_service.seed_base(engine)
        if "log" not in opts.skip:
            events = EVENTS_PER_CARRIER * max(opts.sizes)
            print(f"[{db}] seeding {events:,} log events", flush=True)
            bench_audit.seed_events(engine, events)
        have = 0
        for size in opts.sizes:
            print(f"[{db}] seeding {size:,} carriers", flush=True)
            t0 = time.perf_counter()
            bench_service.grow(engine, have, size)
            have = size
            print(f"[{db}] {size:,} carriers seeded in {time.perf_counter() - t0:.0f} s; "
                  "measuring", flush=True)
            results["sizes"][size] = measure_size(engine, workdir, url, size, opts)
        if "log" not in opts.skip:
            print(f"[{db}] audit verify of {_events(engine):,} events", flush=True)
            results["audit"] = bench_audit.measure_verify(engine)
    return results


def run_media(opts: argparse.Namespace) -> dict[str, float]:
    print(f"Media: a disc of {opts.instances:,} instances, imported against just reading it",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="mt-bench-media-") as tmp:
        return bench_media.bench_import(Path(tmp), instances=opts.instances, rows=256)


# The goal table: the wording, its goal, and for each database the value and whether
# it is met. Each check gets the database's results at its largest size.
Row = tuple[str, str, Callable[[str, dict[str, Any], dict[str, Any]], tuple[str, bool] | None]]


def _ratio(n: int) -> Callable[[str, dict[str, Any], dict[str, Any]], tuple[str, bool]]:
    def check(db: str, size: dict[str, Any], run: dict[str, Any]) -> tuple[str, bool]:
        scan, bare = size["http_scans"][n], size["http_bare"][n]
        ratio = scan["per_s"] / bare["per_s"]
        text = f"ratio {ratio:.2f} ({scan['per_s']:,.0f}/s against {bare['per_s']:,.0f}/s)"
        if n == 1:
            return text, ratio >= 0.5
        return f"{text}; p99 {scan['p99_ms']:.1f} ms", ratio >= 0.5 and scan["p99_ms"] < 20
    return check


def _scan(db: str, size: dict[str, Any], run: dict[str, Any]) -> tuple[str, bool]:
    p99 = size["service"]["scan resolved and logged"]["p99_ms"]
    text = f"p99 {p99:.2f} ms ({size['carriers']:,} carriers, {size['events']:,} events)"
    return text, p99 < (5 if db == "sqlite" else 10)


def _where(db: str, size: dict[str, Any], run: dict[str, Any]) -> tuple[str, bool]:
    p99s = {k.removeprefix("where is it: "): v["p99_ms"] for k, v in size["service"].items()
            if k.startswith("where is it")}
    text = "p99 " + ", ".join(f"{k} {v:.2f}" for k, v in p99s.items()) + " ms"
    return text, max(p99s.values()) < 5


def _custody(db: str, size: dict[str, Any], run: dict[str, Any]) -> tuple[str, bool]:
    p99s = {k: v["p99_ms"] for k, v in size["custody"].items()}
    return "p99 " + ", ".join(f"{k} {v:.1f}" for k, v in p99s.items()) + " ms", max(
        p99s.values()
    ) < 20


def _ingest(db: str, size: dict[str, Any], run: dict[str, Any]) -> tuple[str, bool]:
    rate = size["ingest"]["reads_per_s"]
    return f"{rate:,.0f} reads/s", rate >= 50_000


def _verify(db: str, size: dict[str, Any], run: dict[str, Any]) -> tuple[str, bool] | None:
    if "audit" not in run:
        return None
    audit = run["audit"]
    rate, growth = audit["events_per_s"], audit["peak_rss_delta_mib"]
    # "Flat": the verify's peak memory stays under 128 MiB, under 13 bytes an event at 10
    # million (holding them would take gigabytes); a log that does not verify fails the goal.
    text = f"{rate:,.0f} events/s, peak memory +{growth:.0f} MiB, {audit['events']:,} events"
    if not audit["ok"]:
        text += "; the log did NOT verify"
    return text, audit["ok"] and rate >= 200_000 and growth < 128


def _memory(db: str, size: dict[str, Any], run: dict[str, Any]) -> tuple[str, bool]:
    m = size["memory"]
    # Summed over the service's processes: with --workers N the master and every worker.
    text = f"RSS {m['rss_mb']:.0f} MB (peak {m['hwm_mb']:.0f} MB), {m['processes']} process(es)"
    return text, m["rss_mb"] < 250


GOALS: list[Row] = [
    ("single-read scan through HTTP, 8 concurrent stations, against a bare FastAPI endpoint "
     "taking the same body in the same run", "ratio at least 0.5; p99 latency under 20 ms",
     _ratio(8)),
    ("the same with one sequential client", "ratio at least 0.5", _ratio(1)),
    ("a scan resolved and logged, at 1 million carriers and 10 million events",
     "p99 under 5 ms (SQLite), under 10 ms (PostgreSQL)", _scan),
    ('"where is it" by patient ID (with issuer), accession, study UID, label, tag',
     "p99 under 5 ms at 1 million carriers, on both databases", _where),
    ("custody operations (check-out, return) through HTTP",
     "p99 under 20 ms at 1 million carriers", _custody),
    ("batch ingest (500 reads a request), durable", "at least 50,000 reads per second", _ingest),
    ("`mediatrack audit verify`", "at least 200,000 events per second, memory flat (streamed)",
     _verify),
    ("service memory", "RSS under 250 MB at 1 million carriers after the benchmark", _memory),
]
MEDIA_GOAL = ("import and verify of a disc, cold cache",
              "at most 1.1x the time to just read the same files, on this disk")


def goal_table(results: dict[str, Any]) -> list[str]:
    lines = ["| what | goal | database | value | met |", "|---|---|---|---|---|"]
    for what, goal, check in GOALS:
        for db, run in results["databases"].items():
            largest = run["sizes"][max(run["sizes"])]
            outcome = check(db, largest, run)
            if outcome is None:
                value, verdict = "not measured in this run (--skip log)", "-"
            else:
                value, met = outcome
                verdict = "met" if met else "**not met**"
                if largest["carriers"] < 1_000_000:
                    verdict += f" (at {largest['carriers']:,} carriers)"
            lines.append(f"| {what} | {goal} | {db} | {value} | {verdict} |")
    if media := results.get("media"):
        ratio = media["cold_ratio"]
        value = (f"{ratio:.2f}x ({media['cold_import_s']:.2f} s against "
                 f"{media['cold_read_s']:.2f} s, {media['instances']:,.0f} instances)")
        verdict = "met" if ratio <= 1.1 else "**not met**"
        lines.append(f"| {MEDIA_GOAL[0]} | {MEDIA_GOAL[1]} | - | {value} | {verdict} |")
    return lines


def size_table(results: dict[str, Any]) -> list[str]:
    lines = ["| database | carriers | measurement | median ms | p99 ms |", "|---|---|---|---|---|"]
    for db, run in results["databases"].items():
        for carriers, size in run["sizes"].items():
            rows = [(k, v["median_ms"], v["p99_ms"]) for k, v in size["service"].items()]
            rows += [(f"HTTP {k}", v["median_ms"], v["p99_ms"]) for k, v in size["custody"].items()]
            rows += [(f"HTTP scan, {n} station(s) ({v['per_s']:,.0f}/s)", v["p50_ms"], v["p99_ms"])
                     for n, v in size["http_scans"].items()]
            ingest = size["ingest"]
            rows.append((f"HTTP ingest batch of 500 ({ingest['reads_per_s']:,.0f} reads/s)",
                         ingest["median_ms"], ingest["p99_ms"]))
            for name, median, p99 in rows:
                lines.append(f"| {db} | {carriers:,} | {name} | {median:.2f} | {p99:.2f} |")
    return lines


def pictures(results: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dbs = results["databases"]
    series = {
        "scan resolved and logged": lambda s: s["service"]["scan resolved and logged"],
        "where is it: patient ID": lambda s: s["service"]["where is it: patient ID with issuer"],
        "check-out (HTTP)": lambda s: s["custody"]["check-out"],
        "scan, 8 stations (HTTP)": lambda s: {"median_ms": s["http_scans"][8]["p50_ms"],
                                              "p99_ms": s["http_scans"][8]["p99_ms"]},
    }
    fig, axes = plt.subplots(1, len(dbs), figsize=(6 * len(dbs), 4.5), squeeze=False,
                             sharey=True)
    for ax, (db, run) in zip(axes[0], dbs.items(), strict=True):
        sizes = sorted(run["sizes"])
        colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for (name, get), colour in zip(series.items(), colours, strict=False):
            values = [get(run["sizes"][n]) for n in sizes]
            ax.plot(sizes, [v["p99_ms"] for v in values], "o-", color=colour, label=f"{name} p99")
            ax.plot(sizes, [v["median_ms"] for v in values], "o--", color=colour, alpha=0.5,
                    label=f"{name} median")
        for goal in (5, 20):
            ax.axhline(goal, color="grey", linewidth=0.8, linestyle=":")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(sizes, [f"{n:,}" for n in sizes])
        ax.set_xlabel("carriers on file")
        ax.set_title(db)
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("latency, ms (dotted: the 5 and 20 ms goals)")
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.suptitle(f"Latency against archive size ({results['date']}, {results['machine']})")
    fig.tight_layout()
    fig.savefig(out / "perf-latency.png", dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for db, run in dbs.items():
        largest = max(run["sizes"])
        size = run["sizes"][largest]
        ax.plot(STATIONS, [size["http_scans"][n]["per_s"] for n in STATIONS], "o-",
                label=f"POST /api/v1/scans, {db}, {largest:,} carriers")
        ax.plot(STATIONS, [size["http_bare"][n]["per_s"] for n in STATIONS], "o--", alpha=0.6,
                label=f"bare FastAPI endpoint (same run as {db})")
    ax.set_xscale("log", base=2)
    ax.set_xticks(STATIONS, [str(n) for n in STATIONS])
    ax.set_xlabel("concurrent stations (one connection each)")
    ax.set_ylabel("single-read scans answered per second")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"Throughput against concurrent stations ({results['date']})")
    fig.tight_layout()
    fig.savefig(out / "perf-throughput.png", dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--sizes", default=None,
                        help="carriers, comma-separated (default 10000,100000,1000000)")
    parser.add_argument("--db", default="sqlite,postgres", help="sqlite, postgres or both")
    parser.add_argument("--quick", action="store_true",
                        help="10,000 carriers, short runs, a small disc: to try it out")
    parser.add_argument("--workers", type=int, default=1,
                        help="mediatrack serve --workers N on PostgreSQL (SQLite: one process)")
    parser.add_argument("--out", type=Path, default=Path("docs"),
                        help="where the pictures and perf-results.json go (default docs)")
    parser.add_argument("--postgres-url", default=os.environ.get(
        "MEDIATRACK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
        help="any database of the server; the benchmark creates and drops its own")
    parser.add_argument("--skip", default="",
                        help="parts to leave out, comma-separated: log (the 10 million events "
                             "and audit verify), media (the disc import); give --out elsewhere "
                             "so a partial run does not replace docs' figures")
    opts = parser.parse_args()
    opts.skip = {p.strip() for p in opts.skip.split(",") if p.strip()}
    if unknown := opts.skip - {"log", "media"}:
        parser.error(f"--skip knows log and media, not {', '.join(sorted(unknown))}")
    default_sizes = "10000" if opts.quick else "10000,100000,1000000"
    opts.sizes = sorted(int(n) for n in (opts.sizes or default_sizes).split(","))
    opts.runs = 300 if opts.quick else 2000
    opts.seconds = 3.0 if opts.quick else 10.0
    opts.pairs = 100 if opts.quick else 500
    opts.instances = 250 if opts.quick else 5000
    databases = [d.strip() for d in opts.db.split(",") if d.strip()]

    started = time.perf_counter()
    results: dict[str, Any] = {
        "date": f"{datetime.now(UTC):%Y-%m-%d}",
        "machine": f"{os.cpu_count()} CPUs, {platform.python_implementation()} "
                   f"{platform.python_version()}",
        "sizes": opts.sizes,
        "postgres_workers": opts.workers,
        "databases": {db: run_database(db, opts) for db in databases},
        "media": None if "media" in opts.skip else run_media(opts),
    }
    results["minutes"] = (time.perf_counter() - started) / 60
    opts.out.mkdir(parents=True, exist_ok=True)
    (opts.out / "perf-results.json").write_text(json.dumps(results, indent=1) + "\n")
    pictures(results, opts.out)
    print()
    print(f"Issue 10 goals ({results['date']}, {results['machine']}, "
          f"sizes {', '.join(f'{n:,}' for n in opts.sizes)}; "
          f"{results['minutes']:.0f} minutes):")
    print()
    print("\n".join(goal_table(results)))
    print()
    print("\n".join(size_table(results)))
    print(f"\nPictures and figures in {opts.out}/: perf-latency.png, perf-throughput.png, "
          "perf-results.json")


if __name__ == "__main__":
    main()
