"""Run one tool on one corpus, in its own process, and print what it found as JSON.

    python -m bench.runtool TOOL CORPUS [--threshold 0.6] [--db PATH] [--workers 0]

``bench.speed`` starts this as a child process so that wall time, CPU time and peak memory
belong to that one tool (the parent reads them from ``os.wait4``).

Tools: ``dedup`` (the full scan, database written), ``read`` (read, split and normalize only,
with dedup's worker processes: the floor no scan can go below), ``dedup-python`` and
``read-python`` (the same two on dedup's Python path, ``DEDUP_CORE=python``), ``datasketch``,
``rensa`` and ``exact``, ``datasketch-keys`` and ``rensa-keys`` on dedup's shingles
(bench/baselines.py), and ``rensa-min``, the minimal rensa script (bench/rensa_min.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

TOOLS = (
    "dedup", "dedup-python", "read", "read-python", "datasketch", "rensa", "rensa-min",
    "datasketch-keys", "rensa-keys", "exact",
)
# tools that are another tool run on dedup's Python path (DEDUP_CORE=python)
PYTHON_CORE = {"dedup-python": "dedup", "read-python": "read"}


def child_env(tool: str) -> dict:
    """The environment of the child that runs ``tool``: ``DEDUP_CORE=python`` for the
    ``-python`` tools, and no ``DEDUP_CORE`` for the others (so that ``dedup`` and ``read`` are
    the compiled path whatever the shell that started the benchmark says)."""
    env = {k: v for k, v in os.environ.items() if k != "DEDUP_CORE"}
    if tool in PYTHON_CORE:
        env["DEDUP_CORE"] = "python"
    return env


def run(tool: str, corpus: Path, threshold: float, db: Path | None, workers: int) -> dict:
    started = time.perf_counter()
    if tool in PYTHON_CORE:  # also when started by hand without the variable; workers inherit it
        os.environ["DEDUP_CORE"] = "python"
        tool = PYTHON_CORE[tool]
    if tool == "dedup":
        from dedup.config import ScanConfig
        from dedup.pipeline import scan

        with tempfile.TemporaryDirectory() as tmp:
            target = db or Path(tmp) / "speed.db"
            # full: a database left by an earlier run would otherwise make this an update
            result = scan(corpus, ScanConfig(threshold=threshold, workers=workers), target, force=True, full=True)
        out = {"paragraphs": result.counts["paragraphs"], "clusters": result.counts["clusters"], "timings": result.timings}
    elif tool == "read":
        from dedup import compiled
        from dedup.config import ScanConfig
        from dedup.sources.corpus import list_files
        from dedup.engines.local import prepared_items

        compiled.prepare()  # as scan does: the core's tables built once, inherited by the workers
        config = ScanConfig(workers=workers)
        n = 0
        for item in prepared_items(list_files(corpus), corpus, config):
            n += len(item) if hasattr(item, "key_ends") else 0
        out = {"paragraphs": n}
    elif tool == "rensa-min":
        from bench.rensa_min import rensa_min

        out = rensa_min(corpus)
    else:
        from bench.baselines import BASELINES, read_paragraphs

        paragraphs = read_paragraphs(corpus)
        clustering = BASELINES[tool](paragraphs, threshold)
        out = {"paragraphs": len(paragraphs), "clusters": len({x for x in clustering.labels if x is not None})}
    if tool in ("dedup", "read"):
        from dedup.compiled import core_name

        out["core"] = core_name()
    out["inner_seconds"] = round(time.perf_counter() - started, 3)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.runtool")
    parser.add_argument("tool", choices=TOOLS)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--threshold", type=float, default=0.6)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.tool, args.corpus, args.threshold, args.db, args.workers)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
