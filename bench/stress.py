"""Corpora built to hurt: millions of tiny paragraphs, and one enormous cluster.

    python -m bench stress [--tiny 500000,1000000,2000000] [--cluster 5000,10000,20000,40000]

* ``tiny``: files of short lines (4 to 24 characters, most of them repeated somewhere, many
  too short to sign), 200 lines a file. Rows, keys and the database grow with the paragraphs.
* ``cluster``: every document carries the same boilerplate line, a near copy of a second
  stock line (one character changed at random, so thousands of distinct keys land in the same
  LSH buckets and one connected component), and three lines of its own.

Each size is scanned in a child process (wall time, peak RSS); the table gives the growth
from one size to the next: twice the input should cost about twice the time, never four times.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from bench.report import machine, output_options, publish
from bench.speed import run_tool

HAN = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可也你能而子那得着下过后自"
BOILERPLATE = "本文内容由网友自发贡献，版权归原作者所有，本站不拥有其著作权，亦不承担相应法律责任。"
STOCK = "各级党组织要切实履行疫情防控主体责任，坚决守住外防输入内防反弹的底线，确保人民群众生命安全和身体健康。"


def tiny_corpus(folder: Path, paragraphs: int, seed: int) -> None:
    """Files of 200 short lines; a third of the lines drawn from a small shared pool."""
    rng = random.Random(seed)
    pool = ["".join(rng.choices(HAN, k=rng.randint(4, 24))) for _ in range(5000)]
    folder.mkdir(parents=True)
    for f in range(paragraphs // 200):
        lines = [rng.choice(pool) if rng.random() < 0.33 else "".join(rng.choices(HAN, k=rng.randint(4, 24))) for _ in range(200)]
        (folder / f"{f // 1000:03d}").mkdir(exist_ok=True)
        (folder / f"{f // 1000:03d}" / f"{f:07d}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def cluster_corpus(folder: Path, documents: int, seed: int) -> None:
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    for d in range(documents):
        variant = list(STOCK)
        variant[rng.randrange(len(variant))] = rng.choice(HAN)
        own = ["".join(rng.choices(HAN, k=rng.randint(30, 60))) for _ in range(3)]
        (folder / f"{d // 1000:03d}").mkdir(exist_ok=True)
        (folder / f"{d // 1000:03d}" / f"{d:07d}.txt").write_text("\n".join([own[0], BOILERPLATE, own[1], "".join(variant), own[2]]) + "\n", encoding="utf-8")


def run(work: Path, tiny: list[int], cluster: list[int], seed: int) -> list[dict]:
    rows = []
    info = machine()
    for kind, sizes, build in (("tiny paragraphs", tiny, tiny_corpus), ("one enormous cluster", cluster, cluster_corpus)):
        for size in sizes:
            corpus = work / f"stress-{kind.split()[0]}-{size}-{seed}"
            if not corpus.exists():
                build(corpus.with_suffix(".part"), size, seed)
                corpus.with_suffix(".part").rename(corpus)
            db = work / f"{corpus.name}.db"
            result = run_tool("dedup", corpus, 0.6, 0, db)
            row = {"corpus": kind, "size": size, **result, **info}
            rows.append(row)
            print(json.dumps({k: row[k] for k in ("corpus", "size", "wall_s", "peak_rss_mb", "paragraphs")}), flush=True)
            db.unlink(missing_ok=True)
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| corpus | size | paragraphs | wall s | peak RSS MB | time x for size x | stages (s) |", "| --- | --- | --- | --- | --- | --- | --- |"]
    previous = None
    for r in rows:
        growth = ""
        if previous and previous["corpus"] == r["corpus"]:
            growth = f"{r['wall_s'] / previous['wall_s']:.2f}x for {r['size'] / previous['size']:.0f}x"
        stages = ", ".join(f"{k} {v:.1f}" for k, v in json.loads(r["timings"]).items())
        lines.append(f"| {r['corpus']} | {r['size']:,} {'paragraphs' if r['corpus'].startswith('tiny') else 'documents'} | {r['paragraphs']:,} | {r['wall_s']:.1f} | {r['peak_rss_mb']} | {growth} | {stages} |")
        previous = r
    lines.append("")
    lines.append(f"{rows[-1]['machine']}, measured {rows[-1]['when']}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench stress", description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", default="500000,1000000,2000000", help="paragraph counts of the tiny-paragraph corpora")
    parser.add_argument("--cluster", default="5000,10000,20000,40000", help="document counts of the one-cluster corpora")
    parser.add_argument("--seed", type=int, default=1)
    output_options(parser)
    args = parser.parse_args(argv)
    sizes = lambda text: [int(x) for x in text.split(",") if x]  # noqa: E731
    args.work.mkdir(parents=True, exist_ok=True)
    rows = run(args.work, sizes(args.tiny), sizes(args.cluster), args.seed)
    return publish("stress", rows, markdown(rows), args)


if __name__ == "__main__":
    sys.exit(main())
