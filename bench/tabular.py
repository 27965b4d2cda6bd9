"""The same records as JSONL, Parquet and CSV: what a scan of each costs (dedup/sources/tabular.py).

    python -m bench tabular [--passes 6] [--workers 2] [--seed 5] [--tools read,dedup]

The records are the copyright files and licences of this machine (/usr/share/doc/*/copyright,
/usr/share/common-licenses/*), six paragraphs a record, written ``passes`` times, every pass
after the first with about one word in 40 replaced, so copies and near copies are real, then
shuffled. Columns: id, text, package, pass and a timestamp. Each file is scanned in a child
process (``bench.speed.run_tool``): wall time, CPU, peak RSS of the largest process and the
peak PSS of the process tree, for ``read`` (read, split, normalize and sign on the workers: the
part of a scan the input format changes) and ``dedup`` (the whole scan). ``parquet`` has row
groups of 2,000 rows; ``parquet, 1 row group`` holds them all in one, which the scan still
reads a batch at a time.
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import random
import re
import sys
from pathlib import Path

from bench.report import machine, output_options, publish
from bench.speed import run_tool

ROW_GROUP = 2000


def records(passes: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    chunks = []
    for name in sorted(glob.glob("/usr/share/doc/*/copyright")) + sorted(glob.glob("/usr/share/common-licenses/*")):
        try:
            text = Path(name).read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        paragraphs = [b.strip() for b in re.split(r"\n\s*\n", text) if b.strip()]
        label = Path(name).parent.name if name.startswith("/usr/share/doc/") else Path(name).name
        chunks += [(label, "\n\n".join(paragraphs[i : i + 6])) for i in range(0, len(paragraphs), 6)]
    out = []
    for n in range(passes):
        for k, (label, text) in enumerate(chunks):
            if n:
                words = text.split(" ")
                for _ in range(max(1, len(words) // 40)):
                    words[rng.randrange(len(words))] = rng.choice(["the", "software", "licence", "copy"])
                text = " ".join(words)
            out.append({"id": f"{label}/{n}/{k}", "text": text, "package": label, "pass": n, "crawled": 1_600_000_000 + len(out)})
    rng.shuffle(out)
    return out


def write_inputs(folder: Path, passes: int, seed: int) -> dict[str, Path]:
    """The four files of the same records (written when missing)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "jsonl": folder / "records.jsonl",
        "parquet": folder / "records.parquet",
        "parquet, 1 row group": folder / "one-group.parquet",
        "csv": folder / "records.csv",
    }
    if all(p.exists() for p in files.values()):
        return files
    rows = records(passes, seed)
    table = pa.Table.from_pylist(rows)
    table = table.set_column(4, "crawled", pa.array([r["crawled"] for r in rows], pa.timestamp("s")))
    pq.write_table(table, files["parquet"], row_group_size=ROW_GROUP)
    pq.write_table(table, files["parquet, 1 row group"], row_group_size=len(rows))
    with open(files["jsonl"], "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    with open(files["csv"], "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return files


def run(passes: int, seed: int, workers: int, tools: list[str], work: Path) -> list[dict]:
    files = write_inputs(work / f"tabular-{passes}-{seed}", passes, seed)
    info = machine()
    out = []
    for tool in tools:
        for fmt, path in files.items():
            row = run_tool(tool, path, 0.6, workers)
            out.append({"format": fmt, "file_mb": round(path.stat().st_size / 1e6, 1), "workers": workers, **row, **info})
    return out


def markdown(rows: list[dict]) -> str:
    lines = [
        "| tool | input | file MB | wall s | CPU s | peak RSS MB | peak PSS MB (tree) | paragraphs | read stage s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        read = json.loads(r["timings"]).get("read") if r["timings"] else None
        lines.append(
            f"| {r['tool']} | {r['format']} | {r['file_mb']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['peak_rss_mb']} | {r['peak_pss_mb']} | "
            f"{r['paragraphs']:,} | {'' if read is None else f'{read:.1f}'} |"
        )
    lines.append("")
    lines.append(f"{rows[0]['workers']} workers; {rows[0]['machine']}, measured {rows[0]['when']}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench tabular", description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=6, help="times the records are written (each after the first edited)")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tools", default="read,dedup", help="comma-separated: read (reading alone), dedup (the whole scan)")
    output_options(parser)
    args = parser.parse_args(argv)
    rows = run(args.passes, args.seed, args.workers, args.tools.split(","), args.work)
    return publish("tabular", rows, markdown(rows), args)


if __name__ == "__main__":
    sys.exit(main())
