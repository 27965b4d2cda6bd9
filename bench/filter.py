"""Memory of ``dedup filter`` along a long JSONL stream: it must not grow with the stream.

    python -m bench filter [--records 100000] [--size 100MB] [--seed 1]

The stream is made from a generated dump (the speed benchmark's, generated when missing): its
paragraphs, in corpus order, grouped into records of 1-3 paragraphs, so about a third of the
records carry a copy of something earlier. ``dedup filter`` runs in a child process reading it
from a pipe; its memory (PSS summed over it and the process that reads its input ahead, so pages
they share count once) is sampled every quarter second and reported at each tenth of the stream,
with records/s and the duplicates removed. The stream index keeps key texts and
references in files and only fingerprints and postings in memory (the compiled core's), so memory
grows with the distinct keys, never with the text. Then ``dedup scan`` reads the same records
from a file, for the throughput of the filter against a scan of the same JSONL.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.generate import parse_size
from bench.report import machine, output_options, publish
from bench.speed import ensure_dump, process_tree, pss_kb


def records(docs: Path, n: int):
    """Up to ``n`` JSONL lines of 1-3 paragraphs each, from the dump's documents in order."""
    from dedup.sources.dispatch import iter_documents
    from dedup.text.paragraphs import split_paragraphs

    made, group, size = 0, [], 1
    for doc in iter_documents(docs):
        for p in split_paragraphs(doc.text):
            group.append(p.text)
            if len(group) == size:
                yield (json.dumps({"id": made, "text": "\n".join(group)}, ensure_ascii=False) + "\n").encode("utf-8")
                made, group, size = made + 1, [], made % 3 + 1
                if made >= n:
                    return


def tree_pss_mb(pid: int) -> float:
    """PSS of ``pid`` and its descendants, summed, in MB."""
    return sum(pss_kb(p) for p in process_tree(pid)) / 1024


def run(n: int, size: int, seed: int, work: Path) -> list[dict]:
    docs = ensure_dump(work, size, seed)
    lines = list(records(docs, n))
    total = len(lines)
    proc = subprocess.Popen([sys.executable, "-m", "dedup", "filter"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    fed = [0]
    samples: list[tuple[float, int, float]] = []
    started = time.perf_counter()

    def feed() -> None:
        for i, line in enumerate(lines, start=1):
            proc.stdin.write(line)
            fed[0] = i
        proc.stdin.close()

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    while proc.poll() is None:
        try:
            samples.append((time.perf_counter() - started, fed[0], tree_pss_mb(proc.pid)))
        except OSError:
            break
        time.sleep(0.25)
    wall = time.perf_counter() - started
    report = proc.stderr.read().decode().strip()
    if proc.returncode != 0:
        raise RuntimeError(f"dedup filter failed: {report}")
    rows = []
    info = machine()
    for tenth in range(1, 11):
        # the pipe buffers a little, so "records fed" leads the filter by at most that much
        upto = [s for s in samples if s[1] <= total * tenth / 10]
        if upto:
            t, fed_n, _ = upto[-1]
            rows.append({"records_fed": fed_n, "seconds": round(t, 1), "peak_pss_mb": round(max(s[2] for s in upto), 1), **info})
    stream = work / "filter-stream.jsonl"
    stream.write_bytes(b"".join(lines))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "dedup", "scan", str(stream), "--db", str(work / "filter-stream.db"), "--force", "--full", "-q"], check=True)
    scan_s = time.perf_counter() - started
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    rows.append({"records_fed": total, "seconds": round(wall, 1), "peak_pss_mb": round(max(s[2] for s in samples), 1), "report": report,
                 "scan_seconds": round(scan_s, 1), "mb": round(stream.stat().st_size / 1e6, 1), "load": load, **info})
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| records fed | seconds | peak PSS so far (MB) |", "| --- | --- | --- |"]
    for r in rows[:-1]:
        lines.append(f"| {r['records_fed']:,} | {r['seconds']} | {r['peak_pss_mb']} |")
    last = rows[-1]
    lines.append("")
    lines.append(
        f"All {last['records_fed']:,} records in {last['seconds']} s ({last['records_fed'] / last['seconds']:,.0f} records/s), "
        f"peak PSS {last['peak_pss_mb']} MB (the filter and its reader); dedup's report: \"{last['report']}\". `dedup scan` of the same {last['mb']} MB of JSONL "
        f"took {last['scan_seconds']} s: the filter runs at {last['scan_seconds'] / last['seconds']:.0%} of the scan's throughput. "
        f"{last['machine']}, load average {last['load']} (1, 5, 15 min) after the runs, measured {last['when']}."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench filter", description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--size", default="100MB", help="the generated dump the records come from")
    parser.add_argument("--seed", type=int, default=1)
    output_options(parser)
    args = parser.parse_args(argv)
    rows = run(args.records, parse_size(args.size), args.seed, args.work)
    return publish("filter", rows, markdown(rows), args)


if __name__ == "__main__":
    sys.exit(main())
