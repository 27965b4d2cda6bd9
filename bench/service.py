"""Load on the HTTP service over loopback: queries per second and latency, bounded in time.

    python -m bench service [--size 100MB] [--clients 4] [--seconds 20] [--writes 40] [--batch 1000]

The index is a scan of the speed benchmark's generated dump (148k paragraphs at 100 MB; made
when missing). ``dedup serve`` runs in a child process on a free loopback port. ``--clients``
threads post ``/query`` for ``--seconds`` with texts of 1-3 paragraphs drawn from the dump
(copies, exact or mutated) and from new text; then ``--writes`` documents (5 such texts each)
are posted one after another while 2 clients query, then ``--writes`` more while ``--clients``
query; then one POST of ``--batch`` documents is timed against ``dedup add`` of the same texts
as files on a copy of the scan. Latencies are wall times of whole HTTP round trips measured by
the client; the machine's load average is recorded with them (the cores may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench.generate import parse_size
from bench.report import machine, output_options, publish
from bench.speed import ensure_dump

TOKEN = "bench-token"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(port: int, path: str, body: dict, token: str | None = None) -> float:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    started = time.perf_counter()
    with urllib.request.urlopen(req, timeout=300) as resp:
        resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{path}: HTTP {resp.status}")
    return time.perf_counter() - started


def texts(docs: Path, n: int, seed: int) -> list[str]:
    """``n`` query texts of 1-3 lines: dump paragraphs (most have copies) and shuffled new text."""
    rng = random.Random(seed)
    files = sorted(docs.rglob("*.txt"))
    out = []
    while len(out) < n:
        lines = [line for line in rng.choice(files).read_text(encoding="utf-8").splitlines() if line.strip()]
        if not lines:
            continue
        picked = rng.sample(lines, min(len(lines), rng.randint(1, 3)))
        if rng.random() < 0.2:  # new text: the characters of a line, shuffled
            picked = ["".join(rng.sample(line, len(line))) for line in picked]
        out.append("\n".join(picked))
    return out


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def load(port: int, pool: list[str], clients: int, seconds: float = 0.0, until: threading.Event | None = None) -> dict:
    """``clients`` threads posting /query for ``seconds``, or until ``until`` is set."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def running() -> bool:
        return not until.is_set() if until is not None else time.perf_counter() < stop

    def client(k: int) -> None:
        rng = random.Random(k)
        while running():
            took = _post(port, "/query", {"text": rng.choice(pool)})
            with lock:
                latencies.append(took)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    return {"requests": len(latencies), "qps": round(len(latencies) / wall, 1),
            "p50_ms": round(1000 * _percentile(latencies, 0.5), 1), "p99_ms": round(1000 * _percentile(latencies, 0.99), 1)}


def _serve(served: Path, writer: str | None) -> tuple[subprocess.Popen, int]:
    """``dedup serve`` on a free loopback port, once it answers /healthz."""
    port = _port()
    proc = subprocess.Popen([sys.executable, "-m", "dedup", "serve", str(served), "--port", str(port), "--token", TOKEN,
                             "--max-body", str(1 << 26), *(["--writer", writer] if writer else [])],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
            return proc, port
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError(f"server did not start: {proc.stderr.read().decode()}")
            time.sleep(0.2)


def _document(pool: list[str], i: int) -> dict:
    return {"text": "\n".join(random.Random(i).sample(pool, 5)), "id": f"bench-{i}"}


def writes_under_load(port: int, pool: list[str], clients: int, writes: int, first: int) -> tuple[dict, dict]:
    """``writes`` documents posted one after another while ``clients`` query: (writes row, queries row)."""
    write_times: list[float] = []
    done = threading.Event()

    def write_all() -> None:
        try:
            for i in range(first, first + writes):
                write_times.append(_post(port, "/documents", _document(pool, i), TOKEN))
        finally:
            done.set()

    writer = threading.Thread(target=write_all)
    writer.start()
    queries = load(port, pool, clients, until=done)
    writer.join()
    print("write times (s), in order: " + " ".join(f"{t:.3f}" for t in write_times), file=sys.stderr)
    row = {"requests": writes, "qps": round(writes / sum(write_times), 2),
           "p50_ms": round(1000 * _percentile(write_times, 0.5), 1), "p99_ms": round(1000 * _percentile(write_times, 0.99), 1)}
    return row, queries


def batch_against_add(port: int, pool: list[str], n: int, db: Path, docs: Path) -> list[dict]:
    """One POST of ``n`` documents against ``dedup add`` of the same ``n`` texts as files, on a
    copy of the scan; a server without batch writes (HTTP 422) gets no row."""
    batch = [_document(pool, 10**6 + i) for i in range(n)]
    try:
        posted = _post(port, "/documents", {"documents": batch}, TOKEN)
    except (urllib.error.URLError, ConnectionError) as e:  # a server without batch writes: 422
        print(f"batch POST refused ({e}): no batch row", file=sys.stderr)
        return []
    folder = docs / "zz-bench-batch"
    copy = db.with_name(db.stem + "-add.db")
    shutil.copyfile(db, copy)
    try:
        folder.mkdir(exist_ok=True)
        files = []
        for d in batch:
            files.append(folder / f"{d['id']}.txt")
            files[-1].write_text(d["text"], encoding="utf-8")
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "dedup", "add", str(copy), *map(str, files)], check=True, stdout=subprocess.DEVNULL)
        added = time.perf_counter() - started
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        copy.unlink(missing_ok=True)
    return [{"load": f"/documents, one batch of {n:,}", "requests": 1, "qps": round(n / posted, 1), "p50_ms": round(1000 * posted, 1),
             "p99_ms": round(1000 * posted, 1)},
            {"load": f"dedup add of the same {n:,} files", "requests": 1, "qps": round(n / added, 1), "p50_ms": round(1000 * added, 1),
             "p99_ms": round(1000 * added, 1)}]


def run(size: int, clients: int, seconds: float, writes: int, batch: int, seed: int, work: Path, writer: str | None = None) -> list[dict]:
    from dedup.config import ScanConfig
    from dedup.pipeline import scan

    docs = ensure_dump(work, size, seed)
    db = work / f"service-{size // 10**6}MB-{seed}.db"
    if not db.exists():
        scan(docs, ScanConfig(), db, full=True)
    served = work / f"service-{size // 10**6}MB-{seed}-served.db"
    shutil.copyfile(db, served)  # the service switches it to WAL and the writes change it
    for suffix in ("-wal", "-shm"):
        Path(str(served) + suffix).unlink(missing_ok=True)
    proc, port = _serve(served, writer)
    try:
        paragraphs = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/stats").read())["paragraphs"]
        pool = texts(docs, 2000, seed)
        info = {"paragraphs_indexed": paragraphs, "clients": clients, "writer": writer or "default", "load_average": " ".join(f"{x:.2f}" for x in os.getloadavg()), **machine()}
        rows = [{"load": f"/query, {clients} clients", **load(port, pool, clients, seconds)}]
        w, q = writes_under_load(port, pool, 2, writes, 0)
        rows += [{"load": f"/documents, one at a time ({writes}), 2 clients querying", **w}, {"load": "/query, 2 clients, during those writes", **q}]
        w, q = writes_under_load(port, pool, clients, writes, writes)
        rows += [{"load": f"/documents, one at a time ({writes}), {clients} clients querying", **w},
                 {"load": f"/query, {clients} clients, during those writes", **q}]
        if batch:
            rows += batch_against_add(port, pool, batch, db, docs)
        return [r | info for r in rows]
    finally:
        proc.terminate()
        proc.wait(30)


def markdown(rows: list[dict]) -> str:
    lines = ["| load | requests | per second | p50 ms | p99 ms |", "| --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['load']} | {r['requests']:,} | {r['qps']} | {r['p50_ms']} | {r['p99_ms']} |")
    lines.append("")
    lines.append(f"Index: {rows[0]['paragraphs_indexed']:,} paragraphs, writer {rows[0]['writer']}. {rows[0]['machine']}, load average {rows[0]['load_average']} "
                 f"at the start, measured {rows[0]['when']}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench service", description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="100MB")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--writes", type=int, default=40, help="documents posted one at a time, in each of two phases")
    parser.add_argument("--batch", type=int, default=1000, help="documents of the batch POST (0: none)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--writer", choices=["process", "thread"], default=None, help="dedup serve --writer (default: the server's)")
    output_options(parser)
    args = parser.parse_args(argv)
    rows = run(parse_size(args.size), args.clients, args.seconds, args.writes, args.batch, args.seed, args.work, args.writer)
    return publish("service", rows, markdown(rows), args)


if __name__ == "__main__":
    sys.exit(main())
