"""Quality benchmark: dedup against exact hashing and a plain datasketch pipeline, on ground truth.

    python -m bench quality [--docs 1000] [--seed 2] [--wrap] [--work bench/out] [--results bench/results]

Generates a synthetic dump with lineage truth (``bench.generate``; reused when the same
parameters were generated before), runs every tool on the same paragraphs, scores each against
the truth (``bench.score``) and writes ``quality.csv`` (appended, one row per tool and run) and
``quality.md`` (the latest table) to the results folder, and the table into bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench.baselines import BASELINES, read_paragraphs
from bench.generate import FORMAT_VERSION, generate
from bench.report import machine, output_options, update_readme, write_rows
from bench.score import predicted_from_db, score
from dedup.config import ScanConfig
from dedup.pipeline import scan

COLUMNS = ("pair_precision", "pair_recall", "pair_f1", "bcubed_f1", "ari", "copy_precision", "copy_recall")
TOOLS = ("exact", "datasketch", "dedup")


def ensure_dump(work: Path, docs: int, seed: int, wrap: bool = False) -> Path:
    """The folder of a generated dump with these parameters, generating it when missing."""
    out = work / f"quality-{docs}-{seed}{'-wrap' if wrap else ''}"
    meta = out / "generate.json"
    if meta.exists() and json.loads(meta.read_text(encoding="utf-8")).get("format_version") == FORMAT_VERSION:
        return out  # made by this generator: reused (another version mutates differently)
    generate(out, n_docs=docs, seed=seed, wrap=wrap, force=True)
    return out


def run(docs: int, seed: int, work: Path, results: Path, readme: Path | None, wrap: bool = False) -> list[dict]:
    dump = ensure_dump(work, docs, seed, wrap)
    truth = dump / "truth.jsonl"
    config = ScanConfig()
    rows = []
    paragraphs = read_paragraphs(dump / "docs")
    for tool in TOOLS:
        started = time.perf_counter()
        if tool == "dedup":
            with tempfile.TemporaryDirectory() as tmp:
                db = Path(tmp) / "q.db"
                scan(dump / "docs", config, db)
                prediction = predicted_from_db(db)
        else:
            prediction = BASELINES[tool](paragraphs, config.threshold).prediction()
        seconds = time.perf_counter() - started
        metrics = score(truth, prediction)
        rows.append(
            {
                "tool": tool,
                **{c: round(metrics[c], 4) for c in COLUMNS},
                "seconds": round(seconds, 2),
                "docs": docs,
                "seed": seed,
                "wrap": wrap,
                "threshold": config.threshold,
                "found_by_mutation": json.dumps({k: round(v, 3) for k, v in metrics["found_by_mutation"].items()}),
                **machine(),
            }
        )
    table = markdown(rows)
    write_rows(results / "quality.csv", rows)
    (results / "quality.md").write_text(table + "\n", encoding="utf-8")
    if readme:
        update_readme(readme, "quality", table)
    return rows


def markdown(rows: list[dict]) -> str:
    head = "| tool | pair P | pair R | pair F1 | B-cubed F1 | ARI | copy P | copy R | seconds |"
    lines = [head, "|" + " --- |" * 9]
    for r in rows:
        lines.append(
            f"| {r['tool']} | "
            + " | ".join(f"{r[c]:.3f}" for c in COLUMNS)
            + f" | {r['seconds']:.1f} |"
        )
    first = rows[0]
    found = json.loads(next(r for r in rows if r["tool"] == "dedup")["found_by_mutation"])
    lines.append("")
    lines.append(
        f"Dump: `python -m bench.generate --docs {first['docs']} --seed {first['seed']}{' --wrap' if first.get('wrap') else ''}`, threshold "
        f"{first['threshold']}, {first['machine']}, dedup {first['dedup_version']}. Share of copies "
        "dedup finds, by mutation: " + ", ".join(f"{k} {v:.2f}" for k, v in found.items()) + "."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench quality", description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1000, help="documents in the generated dump (default 1000)")
    parser.add_argument("--seed", type=int, default=2, help="generator seed (default 2)")
    parser.add_argument("--wrap", action="store_true", help="a dump whose copies may also be hard-wrapped (bench.generate --wrap)")
    output_options(parser)
    args = parser.parse_args(argv)
    args.results.mkdir(parents=True, exist_ok=True)
    readme = None if args.no_readme or args.wrap else Path("bench/README.md")  # the table is of the default dump
    rows = run(args.docs, args.seed, args.work, args.results, readme, args.wrap)
    print(markdown(rows))
    return 0
