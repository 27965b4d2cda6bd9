"""Where benchmark results go: CSV rows with the machine and versions, tables in bench/README.md."""

from __future__ import annotations

import csv
import datetime as dt
import os
import platform
import re
from pathlib import Path

from dedup import __version__


def machine() -> dict:
    """What the figures were measured on."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
        mem = f", {kb / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {cores} cores{mem}, Python {platform.python_version()}",
        "dedup_version": __version__,
    }


def write_rows(path: Path, rows: list[dict]) -> None:
    """Append rows to a CSV file; a row with new columns widens the header of the whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    old: list[dict] = []
    fields: list[str] = []
    if path.exists():
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            fields = list(reader.fieldnames or [])
            old = list(reader)
    for row in rows:
        fields += [k for k in row if k not in fields]
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows(old + rows)
    os.replace(tmp, path)


def update_readme(readme: Path, section: str, table: str) -> None:
    """Replace the text between ``<!-- section:start -->`` and ``<!-- section:end -->``."""
    text = readme.read_text(encoding="utf-8") if readme.exists() else ""
    start, end = f"<!-- {section}:start -->", f"<!-- {section}:end -->"
    block = f"{start}\n{table}\n{end}"
    if start in text and end in text:
        text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + f"\n\n{block}\n"
    tmp = readme.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, readme)


def output_options(parser) -> None:
    """The options every benchmark command shares: where dumps go, where results go, README."""
    parser.add_argument("--work", type=Path, default=Path("bench/out"), help="where dumps are generated")
    parser.add_argument("--results", type=Path, default=Path("bench/results"), help="where results are written")
    parser.add_argument("--no-readme", action="store_true", help="do not update bench/README.md")


def publish(name: str, rows: list[dict], table: str, args) -> int:
    """Append ``rows`` to ``results/NAME.csv``, put ``table`` in bench/README.md (unless
    ``--no-readme``) and print it: the end of every benchmark command."""
    write_rows(args.results / f"{name}.csv", rows)
    if not args.no_readme:
        update_readme(Path("bench/README.md"), name, table)
    print(table)
    return 0
