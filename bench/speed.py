"""Speed benchmark: dedup against datasketch and rensa pipelines on the same generated dump.

    python -m bench speed [--size 100MB] [--scale 4] [--tools dedup,read,rensa,rensa-min,...]
                          [--corpus DIR] [--work bench/out] [--results bench/results]

Every tool runs in its own child process (``bench.runtool``) on the same dump with the same
threshold; the parent measures wall time, CPU time (user + system, worker processes included),
peak resident memory (the largest process, from the kernel) and peak PSS of the whole process
tree (sampled every 0.15 s: shared pages counted once across the tree). ``--scale 4`` also
runs dedup on a dump four times as large, for the time ratio. ``--corpus`` runs on a folder of
yours instead of a generated dump. Rows are appended to ``speed.csv``; the latest table goes to ``speed.md`` and
into bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.generate import generate, parse_size
from bench.report import machine, output_options, update_readme, write_rows
from bench.runtool import PYTHON_CORE, TOOLS, child_env
from dedup.config import ScanConfig

DEFAULT_TOOLS = ("dedup", "dedup-python", "read", "read-python", "rensa", "rensa-min", "rensa-keys", "datasketch", "datasketch-keys")
PSS_INTERVAL = 0.15  # seconds between two samples of the process tree's PSS


def dump_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def ensure_dump(work: Path, size: int, seed: int) -> Path:
    """The documents folder of a generated dump of about ``size`` bytes (generated when missing)."""
    out = work / f"speed-{size // 10**6}MB-{seed}"
    if not (out / "generate.json").exists():
        generate(out, target_bytes=size, seed=seed, force=True)
    return out / "docs"


def pss_kb(pid: int) -> int:
    """The proportional set size of one process in kB (``Pss:`` of /proc/PID/smaps_rollup);
    0 when it has gone, is a zombie, or cannot be read."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants now (empty when it has gone)."""
    import psutil

    try:
        return [pid] + [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:  # gone (or a zombie whose children cannot be listed) mid-walk
        return []


class PssSampler(threading.Thread):
    """Samples the PSS summed over a process and its descendants every ``interval`` seconds
    until stopped; ``peak_kb`` is the largest sum seen (0: no sample succeeded). A process that
    ends between the walk and its read counts 0 in that sample."""

    def __init__(self, pid: int, interval: float = PSS_INTERVAL):
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak_kb = pid, interval, 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while True:
            self.peak_kb = max(self.peak_kb, sum(pss_kb(p) for p in process_tree(self.pid)))
            if self._stop_event.wait(self.interval):
                return

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return self.peak_kb


def run_tool(tool: str, corpus: Path, threshold: float, workers: int, db: Path | None = None) -> dict:
    """Run one tool in a child process; wall time here, CPU and peak RSS from the kernel, peak
    PSS of the process tree sampled here.

    ``os.wait4`` gives the usage of that one child, its worker processes included (they are
    reaped by it): CPU time summed, peak RSS of its largest process. The PSS samples sum the
    child and all its descendants (shared pages split between the processes that map them), so
    the column is the memory of the whole tool, workers included, missing peaks shorter than
    the sampling interval. The ``-python`` tools run with ``DEDUP_CORE=python``
(``runtool.child_env``).
    """
    cmd = [sys.executable, "-m", "bench.runtool", tool, str(corpus), "--threshold", str(threshold), "--workers", str(workers)]
    if db is not None:
        cmd += ["--db", str(db)]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=child_env(tool))
        sampler = PssSampler(proc.pid)
        sampler.start()
        try:  # wait for the end without reaping, so the sampler never reads a reused pid
            os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        finally:
            peak_pss_kb = sampler.stop()
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
    if tool in PYTHON_CORE and not result.get("core", "").startswith("python"):
        raise RuntimeError(f"{tool} ran on the {result.get('core')} core, not the Python path")
    size = dump_bytes(corpus)
    return {
        "tool": tool,
        "mb": round(size / 1e6, 1),
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "peak_pss_mb": round(peak_pss_kb / 1024) if peak_pss_kb else "",
        "mb_per_s": round(size / 1e6 / wall, 2),
        "paragraphs_per_s": round(result["paragraphs"] / wall),
        "paragraphs": result["paragraphs"],
        "timings": json.dumps(result.get("timings", {})),
        "core": result.get("core", ""),
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
        "| tool | dump MB | wall s | CPU s | peak RSS MB | peak PSS MB (tree) | MB/s | paragraphs/s | vs datasketch | vs rensa | vs rensa-min | recall | precision |",
        "|" + " --- |" * 13,
    ]

    def ratio(r: dict, tool: str) -> str:
        base = {b["mb"]: b["mb_per_s"] for b in rows if b["tool"] == tool}
        return f"{r['mb_per_s'] / base[r['mb']]:.2f}x" if r["mb"] in base else ""

    def pss(r: dict) -> str:
        return f"{r['peak_pss_mb']:.0f}" if r.get("peak_pss_mb") not in (None, "") else ""

    for r in rows:
        lines.append(
            f"| {r['tool']} | {r['mb']:.0f} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['peak_rss_mb']:.0f} | {pss(r)} | "
            f"{r['mb_per_s']:.2f} | {r['paragraphs_per_s']:,.0f} | {ratio(r, 'datasketch')} | {ratio(r, 'rensa')} | "
            f"{ratio(r, 'rensa-min')} | {r.get('recall', '')} | {r.get('precision', '')} |"
        )
    m = rows[0]
    lines.append("")
    lines.append(f"{m['machine']}, dedup {m['dedup_version']}, threshold {m['threshold']}, measured {m['when']}.")
    cores: dict[str, list[str]] = {}
    for r in rows:
        if r.get("core") and r["tool"] not in cores.get(r["core"], []):
            cores.setdefault(r["core"], []).append(r["tool"])
    if cores:
        lines.append("dedup's core: " + "; ".join(f"{core} for {', '.join(tools)}" for core, tools in cores.items()) + ".")
    if any(r["tool"] == "rensa-min" for r in rows):
        lines.append(
            "rensa-min is the minimal rensa script (bench/rensa_min.py): one paragraph a non-empty line, "
            "lowercase 5-grams, threshold 0.8 and 16 bands whatever the threshold above."
        )
    for r in rows:
        t = json.loads(r["timings"]) if r["tool"] in ("dedup", "dedup-python") else {}
        if t:
            lines.append(f"{r['tool']} stages at {r['mb']:.0f} MB (s): " + ", ".join(f"{k} {v:.1f}" for k, v in t.items()) + ".")
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
    unknown = [t for t, _ in jobs if t not in TOOLS]
    if unknown:
        parser.error(f"unknown tool(s) {', '.join(unknown)}; choose from {', '.join(TOOLS)}")
    if args.scale > 1 and not args.corpus:
        jobs.append(("dedup", None))
    rows = []
    for tool, folder in jobs:
        folder = folder or ensure_dump(args.work, size * args.scale, args.seed)
        print(f"running {tool} on {folder} ...", file=sys.stderr, flush=True)
        db = args.work / f"speed-{folder.parent.name}{tool[len('dedup'):]}.db" if tool in ("dedup", "dedup-python") else None
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
