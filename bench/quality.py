"""Quality benchmark: dedup against exact hashing and a plain datasketch pipeline, on ground truth.

    python -m bench quality [--docs 1000] [--seed 2] [--wrap] [--work bench/out] [--results bench/results]

Generates a synthetic dump with lineage truth (``bench.generate``; reused when the same
parameters were generated before), runs every tool on the same paragraphs, scores each against
the truth (``bench.score``; dedup's passages too, against the dump's copied runs) and writes ``quality.csv`` (appended, one row per tool and run) and
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
from bench.score import load_passages, load_truth, passage_scores, predicted_from_db, predicted_passages, score
from dedup.config import ScanConfig
from dedup.pipeline import scan

COLUMNS = ("pair_precision", "pair_recall", "pair_f1", "bcubed_f1", "ari", "copy_precision", "copy_recall")
PASSAGE_COLUMNS = ("passage_precision", "run_precision", "passage_recall", "true_passages", "predicted_passages")
FLAG_COLUMNS = ("boilerplate_precision", "boilerplate_recall")  # only a tool that flags furniture has them
TOOLS = ("exact", "datasketch", "dedup")


def ensure_dump(work: Path, docs: int, seed: int, flat: bool = False, wrap: bool = False) -> Path:
    """The folder of a generated dump with these parameters, generating it when missing
    (``flat``: the same pages without a folder per site; ``wrap``: copies hard-wrapped too)."""
    out = work / f"quality-{docs}-{seed}{'-flat' if flat else ''}{'-wrap' if wrap else ''}"
    meta = out / "generate.json"
    if meta.exists() and json.loads(meta.read_text(encoding="utf-8")).get("format_version") == FORMAT_VERSION:
        return out  # made by this generator: reused (another version mutates differently)
    generate(out, n_docs=docs, seed=seed, site_folders=not flat, wrap=wrap, force=True)
    return out


def scan_and_score(dump: Path, config: ScanConfig) -> dict:
    """dedup's scan of a generated dump, scored against its truth."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "q.db"
        scan(dump / "docs", config, db)
        return score(dump / "truth.jsonl", predicted_from_db(db))


def run(docs: int, seed: int, work: Path, results: Path, readme: Path | None, wrap: bool = False) -> list[dict]:
    dump = ensure_dump(work, docs, seed, wrap=wrap)
    truth = dump / "truth.jsonl"
    sites = json.loads((dump / "generate.json").read_text(encoding="utf-8"))["params"]["sites"]
    config = ScanConfig()
    rows = []
    paragraphs = read_paragraphs(dump / "docs")
    flat = scan_and_score(ensure_dump(work, docs, seed, flat=True, wrap=wrap), config)  # no site in any path
    for tool in TOOLS:
        started = time.perf_counter()
        passages = {}
        if tool == "dedup":
            with tempfile.TemporaryDirectory() as tmp:
                db = Path(tmp) / "q.db"
                scan(dump / "docs", config, db)
                metrics = score(truth, predicted_from_db(db))
                found = passage_scores(load_passages(dump / "passages.jsonl"), predicted_passages(db), load_truth(truth))
                passages = {c: round(found[c], 4) for c in PASSAGE_COLUMNS}
        else:
            metrics = score(truth, BASELINES[tool](paragraphs, config.threshold).prediction())
        seconds = time.perf_counter() - started
        rows.append(
            {
                "tool": tool,
                **{c: round(metrics[c], 4) for c in COLUMNS},
                **{c: round(metrics[c], 4) if c in metrics else None for c in FLAG_COLUMNS},
                "furniture_lines": metrics.get("boilerplate_furniture_lines"),
                "flagged_lines": metrics.get("boilerplate_flagged_lines"),
                **({f"flat_{c}": round(flat[c], 4) for c in FLAG_COLUMNS} if tool == "dedup" else {}),
                "seconds": round(seconds, 2),
                "docs": docs,
                "seed": seed,
                "sites": sites,
                "wrap": wrap,
                "threshold": config.threshold,
                "found_by_mutation": json.dumps({k: round(v, 3) for k, v in metrics["found_by_mutation"].items()}),
                **passages,
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
    head = "| tool | pair P | pair R | pair F1 | B-cubed F1 | ARI | copy P | copy R | boilerplate P | boilerplate R | seconds |"
    lines = [head, "|" + " --- |" * 11]
    for r in rows:
        lines.append(
            f"| {r['tool']} | "
            + " | ".join(f"{r[c]:.3f}" if r[c] is not None else "–" for c in COLUMNS + FLAG_COLUMNS)
            + f" | {r['seconds']:.1f} |"
        )
    first = rows[0]
    dedup = next(r for r in rows if r["tool"] == "dedup")
    found = json.loads(dedup["found_by_mutation"])
    lines.append("")
    lines.append(
        f"Dump: `python -m bench.generate --docs {first['docs']} --seed {first['seed']}{' --wrap' if first.get('wrap') else ''}`, threshold "
        f"{first['threshold']}, {first['machine']}, dedup {first['dedup_version']}. Share of copies "
        "dedup finds, by mutation: " + ", ".join(f"{k} {v:.2f}" for k, v in found.items()) + ". "
        f"Boilerplate P/R: lines dedup flags as page furniture against the {dedup['furniture_lines']:,} "
        f"furniture lines of the truth ({dedup['flagged_lines']:,} flagged) of {first['sites']} sites; the other columns score "
        f"the other lines. The same pages without a folder per site (`--flat`): boilerplate P "
        f"{dedup['flat_boilerplate_precision']:.3f}, R {dedup['flat_boilerplate_recall']:.3f}."
    )
    if "passage_recall" in dedup:
        lines.append("")
        lines.append(
            f"Passages (runs of paragraphs copied together; the baselines find none): dedup reports "
            f"{dedup['predicted_passages']:,} for {dedup['true_passages']:,} copied runs in the truth: precision "
            f"{dedup['passage_precision']:.3f} ({dedup['run_precision']:.3f} counting only those of a copied run, not "
            f"paragraphs copied one by one that follow each other by chance), recall {dedup['passage_recall']:.3f}."
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
