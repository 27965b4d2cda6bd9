"""Spark benchmark: the local engine and the Spark engine on the same generated dump.

    python -m bench spark [--size 20MB] [--master local[2]] [--paths driver,distributed]
                          [--workers 0] [--corpus DIR] [--work bench/out] [--results bench/results] [--no-readme]

Both engines run in this process, one after the other, with the same config; wall time and
each engine's stage timings are reported, and the Spark result (loaded with import-parquet)
is compared with the local one, cluster for cluster. ``--paths`` says which of the Spark
engine's paths run: ``driver`` (read on the executors, matched on the driver: what a corpus
under spark_driver.DRIVER_BYTES takes) and ``distributed`` (every stage on Spark, forced here
whatever the size). The Spark session is started once, before the first path, and its start is
reported apart (``startup``); a row's ``wall s`` is the scan alone, its ``x local`` the ratio to
the local engine's wall time (``x local with start``: the session's start added, as a command
pays it), and the jobs and stages are the scan's. Rows are appended to ``spark.csv``; the
table goes to bench/README.md (section ``spark``), where the 1 TB estimate is worked out.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from bench.generate import parse_size
from bench.report import machine, output_options, publish
from bench.speed import dump_bytes, ensure_dump
from dedup.config import ScanConfig

COMPARED = ("SELECT id, canonical_id, size, reason FROM clusters ORDER BY id", "SELECT * FROM members ORDER BY paragraph_id")


def same_result(a: Path, b: Path) -> bool:
    """Do two databases hold the same clusters and members, row for row?"""
    ca, cb = sqlite3.connect(a), sqlite3.connect(b)
    try:
        return all(ca.execute(q).fetchall() == cb.execute(q).fetchall() for q in COMPARED)
    finally:
        ca.close()
        cb.close()


def markdown(rows: list[dict]) -> str:
    lines = ["| engine | dump MB | wall s | x local | x local with start | MB/s | clusters | same as local | jobs / stages | stages (s) |",
             "|" + " --- |" * 10]
    local_wall = rows[0]["wall_s"]
    for r in rows:
        timings = json.loads(r["timings"])
        jobs = f"{timings.pop('spark_jobs')} / {timings.pop('spark_stages')}" if "spark_jobs" in timings else ""
        with_start = (r["wall_s"] + timings.get("startup", 0)) / local_wall
        stages = ", ".join(f"{k} {v:.1f}" for k, v in timings.items())
        lines.append(
            f"| {r['engine']} | {r['mb']:.1f} | {r['wall_s']:.1f} | {r['x_local']:.1f} | {with_start:.1f} | {r['mb_per_s']:.2f} | {r['clusters']:,} | {r['same']} | {jobs} | {stages} |"
        )
    m = rows[0]
    lines += ["", f"{m['machine']}, dedup {m['dedup_version']}, Spark master {m['master']}, load average {m['load']}, measured {m['when']}."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from dedup.pipeline import scan
    from dedup.engines.spark import session

    parser = argparse.ArgumentParser(prog="python -m bench spark", description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="20MB", help="generated dump size (default 20MB)")
    parser.add_argument("--corpus", type=Path, default=None, help="a folder of yours instead of a generated dump")
    parser.add_argument("--master", default="local[2]", help="Spark master (default local[2])")
    parser.add_argument("--paths", default="driver", help="the Spark engine's paths to run, comma-separated: driver, distributed (default driver)")
    parser.add_argument("--workers", type=int, default=0, help="local engine worker processes (0: one per core)")
    parser.add_argument("--seed", type=int, default=1)
    output_options(parser)
    args = parser.parse_args(argv)
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    if not paths or set(paths) - {"driver", "distributed"}:
        parser.error(f"--paths {args.paths}: name driver, distributed or both, comma-separated")
    corpus = args.corpus or ensure_dump(args.work, parse_size(args.size), args.seed)
    mb = dump_bytes(corpus) / 1e6
    config = ScanConfig(workers=args.workers)
    info = {**machine(), "master": args.master}
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-spark-", dir=args.work) as tmp:
        tmp = Path(tmp)
        print(f"local engine on {corpus} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        local = scan(corpus, config, tmp / "local.db")
        local_wall = time.perf_counter() - started
        rows.append({"engine": "local", "mb": round(mb, 1), "wall_s": round(local_wall, 2), "x_local": 1.0, "mb_per_s": round(mb / local_wall, 3),
                     "clusters": local.counts["clusters"], "same": "", "timings": json.dumps(local.timings), **info, "load": _load()})
        started = time.perf_counter()
        spark = session(args.master)
        startup = time.perf_counter() - started
        for path in paths:
            rows.append(_spark_row(spark, path, corpus, config, tmp, local_wall, startup, {**info, "mb": round(mb, 1)}))
        spark.stop()
    args.results.mkdir(parents=True, exist_ok=True)
    return publish("spark", rows, markdown(rows), args)


def _spark_row(spark, path: str, corpus: Path, config: ScanConfig, tmp: Path, local_wall: float, startup: float, info: dict) -> dict:
    """One scan of the Spark engine on ``path`` (driver or distributed), compared with the local database."""
    from dedup.engines.spark import scan_spark
    from dedup.store.import_parquet import import_parquet

    print(f"spark engine ({info['master']}, {path} path) ...", file=sys.stderr, flush=True)
    out, db = tmp / f"out-{path}", tmp / f"spark-{path}.db"
    started = time.perf_counter()
    result = scan_spark(corpus, config, out, spark=spark, **({} if path == "driver" else {"driver_bytes": -1}))
    wall = time.perf_counter() - started
    import_parquet(out, db)
    return {"engine": f"spark {path}", "wall_s": round(wall, 2), "x_local": round(wall / local_wall, 2), "mb_per_s": round(info["mb"] / wall, 3),
            "clusters": result.counts["clusters"], "same": "yes" if same_result(tmp / "local.db", db) else "NO",
            "timings": json.dumps({"startup": round(startup, 2), **result.timings}), **info, "load": _load()}


def _load() -> str:
    """The load average of the last minute, as the rows say it."""
    return f"{os.getloadavg()[0]:.2f}"
