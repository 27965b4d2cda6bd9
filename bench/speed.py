"""Speed benchmark: dedup against datasketch and rensa pipelines on the same generated dump.

    python -m bench speed [--size 100MB] [--scale 4] [--tools dedup,read,rensa,rensa-keys,...]
                          [--corpus DIR] [--work bench/out] [--results bench/results]

Every tool runs in its own child process (``bench.runtool``) on the same dump with the same
threshold; the parent measures wall time, CPU time (user + system, worker processes included)
and peak resident memory (the largest process). ``--scale 4`` also runs dedup on a dump four
times as large, for the time ratio. ``--corpus`` runs on a folder of yours instead of a
generated dump. Rows are appended to ``speed.csv``; the latest table goes to ``speed.md`` and
into bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.generate import generate, parse_size
from bench.report import machine, output_options, update_readme, write_rows
from bench.runtool import TOOLS
from dedup.config import ScanConfig

DEFAULT_TOOLS = ("dedup", "read", "rensa", "rensa-keys", "datasketch", "datasketch-keys")


def dump_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def ensure_dump(work: Path, size: int, seed: int) -> Path:
    """The documents folder of a generated dump of about ``size`` bytes (generated when missing)."""
    out = work / f"speed-{size // 10**6}MB-{seed}"
    if not (out / "generate.json").exists():
        generate(out, target_bytes=size, seed=seed, force=True)
    return out / "docs"


def run_tool(tool: str, corpus: Path, threshold: float, workers: int, db: Path | None = None) -> dict:
    """Run one tool in a child process; wall time here, CPU and peak RSS from the kernel.

    ``os.wait4`` gives the usage of that one child, its worker processes included (they are
    reaped by it): CPU time summed, peak RSS of its largest process.
    """
    cmd = [sys.executable, "-m", "bench.runtool", tool, str(corpus), "--threshold", str(threshold), "--workers", str(workers)]
    if db is not None:
        cmd += ["--db", str(db)]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        last = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit {proc.returncode}"
        raise RuntimeError(f"{tool} failed: {last}")
    result = json.loads(stdout.strip().splitlines()[-1])
    size = dump_bytes(corpus)
    return {
        "tool": tool,
        "mb": round(size / 1e6, 1),
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "mb_per_s": round(size / 1e6 / wall, 2),
        "paragraphs_per_s": round(result["paragraphs"] / wall),
        "paragraphs": result["paragraphs"],
        "timings": json.dumps(result.get("timings", {})),
    }


def check_accuracy(db: Path) -> dict:
    """``bench.accuracy`` in a child process: the parent must stay small, because on Linux a
    child's peak RSS counts its copy of the parent from before ``exec``."""
    out = subprocess.run(
        [sys.executable, "-m", "bench", "accuracy", "--db", str(db)], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out)


def markdown(rows: list[dict]) -> str:
    lines = [
        "| tool | dump MB | wall s | CPU s | peak RSS MB | MB/s | paragraphs/s | vs datasketch | vs rensa | recall | precision |",
        "|" + " --- |" * 11,
    ]

    def ratio(r: dict, tool: str) -> str:
        base = {b["mb"]: b["mb_per_s"] for b in rows if b["tool"] == tool}
        return f"{r['mb_per_s'] / base[r['mb']]:.2f}x" if r["mb"] in base else ""

    for r in rows:
        lines.append(
            f"| {r['tool']} | {r['mb']:.0f} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['peak_rss_mb']:.0f} | "
            f"{r['mb_per_s']:.2f} | {r['paragraphs_per_s']:,.0f} | {ratio(r, 'datasketch')} | {ratio(r, 'rensa')} | "
            f"{r.get('recall', '')} | {r.get('precision', '')} |"
        )
    m = rows[0]
    lines.append("")
    lines.append(f"{m['machine']}, dedup {m['dedup_version']}, threshold {m['threshold']}, measured {m['when']}.")
    stages = [r for r in rows if r["tool"] == "dedup"]
    for r in stages:
        t = json.loads(r["timings"])
        if t:
            lines.append(f"dedup stages at {r['mb']:.0f} MB (s): " + ", ".join(f"{k} {v:.1f}" for k, v in t.items()) + ".")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench speed", description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="100MB", help="generated dump size (default 100MB)")
    parser.add_argument("--scale", type=int, default=0, help="also run dedup on a dump this many times larger")
    parser.add_argument("--tools", default=",".join(DEFAULT_TOOLS), help="comma-separated: " + ",".join(TOOLS))
    parser.add_argument("--corpus", type=Path, default=None, help="a folder of yours instead of a generated dump")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=0, help="dedup worker processes (0: one per core)")
    parser.add_argument("--threshold", type=float, default=ScanConfig().threshold)
    output_options(parser)
    parser.add_argument("--no-accuracy", action="store_true", help="skip the recall/precision check against exact Jaccard")
    args = parser.parse_args(argv)
    size = parse_size(args.size)
    corpus = args.corpus or ensure_dump(args.work, size, args.seed)
    info = {**machine(), "threshold": args.threshold, "workers": args.workers}
    args.results.mkdir(parents=True, exist_ok=True)
    jobs = [(t.strip(), corpus) for t in args.tools.split(",") if t.strip()]
    if args.scale > 1 and not args.corpus:
        jobs.append(("dedup", None))
    rows = []
    for tool, folder in jobs:
        folder = folder or ensure_dump(args.work, size * args.scale, args.seed)
        print(f"running {tool} on {folder} ...", file=sys.stderr, flush=True)
        db = args.work / f"speed-{folder.parent.name}.db" if tool == "dedup" else None
        try:
            row = {**run_tool(tool, folder, args.threshold, args.workers, db), **info}
            if db is not None and not args.no_accuracy:
                print("checking recall against exact Jaccard on a sample ...", file=sys.stderr, flush=True)
                found = check_accuracy(db)
                row.update(recall=round(found["recall"], 4), precision=round(found["precision"], 4))
        except RuntimeError as error:  # report it and go on: the other tools' figures still count
            print(f"error: {error}", file=sys.stderr, flush=True)
            continue
        write_rows(args.results / "speed.csv", [row])  # saved at once: a later failure loses nothing
        rows.append(row)
    if not rows:
        return 1
    table = markdown(rows)
    (args.results / "speed.md").write_text(table + "\n", encoding="utf-8")
    if not args.no_readme:
        update_readme(Path("bench/README.md"), "speed", table)
    print(table)
    return 0
