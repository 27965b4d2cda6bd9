"""What an update costs next to a full scan: add a share of new documents to a scanned dump.

    python -m bench update [--size 100MB] [--share 0.01] [--seed 1]

The speed benchmark's generated dump (made when missing) is split by a fixed random draw: a
corpus folder gets all but ``share`` of its documents (hard links, no copies) and is scanned;
then the rest are linked in and the same database is updated; finally the whole corpus is
scanned again from scratch into another database. Each runs in a child process (as in
``bench speed``); the table gives wall time, peak RSS and the update's stages, and the test
suite checks separately that the update ends exactly where the full scan does.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
from pathlib import Path

from bench.generate import parse_size
from bench.report import machine, output_options, publish
from bench.speed import ensure_dump, run_tool


def link_corpus(docs: Path, corpus: Path, share: float, seed: int) -> list[Path]:
    """Link all but ``share`` of the documents of ``docs`` into ``corpus``; return the rest."""
    files = sorted(p for p in docs.rglob("*") if p.is_file())
    later = set(random.Random(seed).sample(range(len(files)), max(1, round(share * len(files)))))
    if corpus.exists():
        shutil.rmtree(corpus)
    held_back = []
    for i, path in enumerate(files):
        if i in later:
            held_back.append(path)
            continue
        _link(path, corpus / path.relative_to(docs))
    return held_back


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def run(size: int, share: float, seed: int, work: Path) -> list[dict]:
    docs = ensure_dump(work, size, seed)
    base = work / f"update-{size // 10**6}MB-{seed}"
    corpus = base / "corpus"
    held_back = link_corpus(docs, corpus, share, seed)
    db, full_db = base / "update.db", base / "full.db"
    for stale in (db, full_db):
        stale.unlink(missing_ok=True)
    info = machine()
    rows = [{"step": f"full scan of {100 - 100 * share:g}%", **run_tool("dedup", corpus, 0.6, 0, db), **info}]
    for path in held_back:
        _link(path, corpus / path.relative_to(docs))
    rows.append({"step": f"update: {len(held_back)} new files ({100 * share:g}%)", **run_tool("dedup", corpus, 0.6, 0, db), **info})
    rows.append({"step": "full scan of 100%", **run_tool("dedup", corpus, 0.6, 0, full_db), **info})
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| step | wall s | CPU s | peak RSS MB | stages (s) |", "| --- | --- | --- | --- | --- |"]
    for r in rows:
        stages = ", ".join(f"{k} {v:.1f}" for k, v in json.loads(r["timings"]).items())
        lines.append(f"| {r['step']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['peak_rss_mb']:.0f} | {stages} |")
    update, full = rows[1], rows[2]
    lines.append("")
    lines.append(
        f"The update took {update['wall_s'] / full['wall_s']:.0%} of a full scan of the same corpus "
        f"({update['wall_s']:.1f} s against {full['wall_s']:.1f} s). {full['machine']}, measured {full['when']}."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench update", description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="100MB")
    parser.add_argument("--share", type=float, default=0.01, help="share of the documents added by the update")
    parser.add_argument("--seed", type=int, default=1)
    output_options(parser)
    args = parser.parse_args(argv)
    rows = run(parse_size(args.size), args.share, args.seed, args.work)
    return publish("update", rows, markdown(rows), args)


if __name__ == "__main__":
    sys.exit(main())
