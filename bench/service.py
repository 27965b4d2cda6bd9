"""Load on the HTTP service over loopback: queries per second and latency, bounded in time.

    python -m bench service [--size 100MB] [--clients 4] [--seconds 20] [--writes 3]

The index is a scan of the speed benchmark's generated dump (148k paragraphs at 100 MB; made
when missing). ``dedup serve`` runs in a child process on a free loopback port. ``--clients``
threads post ``/query`` for ``--seconds`` with texts of 1-3 paragraphs drawn from the dump
(copies, exact or mutated) and from new text; then ``--writes`` documents are posted one after
another to ``/documents``, then queries run again during writes. Latencies are wall times of
whole HTTP round trips measured by the client.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
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


def load(port: int, pool: list[str], clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def client(k: int) -> None:
        rng = random.Random(k)
        while time.perf_counter() < stop:
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


def run(size: int, clients: int, seconds: float, writes: int, seed: int, work: Path) -> list[dict]:
    from dedup.config import ScanConfig
    from dedup.pipeline import scan

    docs = ensure_dump(work, size, seed)
    db = work / f"service-{size // 10**6}MB-{seed}.db"
    if not db.exists():
        scan(docs, ScanConfig(), db, full=True)
    served = work / f"service-{size // 10**6}MB-{seed}-served.db"
    shutil.copyfile(db, served)  # the service switches it to WAL and the writes change it
    port = _port()
    proc = subprocess.Popen([sys.executable, "-m", "dedup", "serve", str(served), "--port", str(port), "--token", TOKEN],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"server did not start: {proc.stderr.read().decode()}")
                time.sleep(0.2)
        paragraphs = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/stats").read())["paragraphs"]
        pool = texts(docs, 2000, seed)
        info = {"paragraphs_indexed": paragraphs, "clients": clients, **machine()}
        rows = [{"load": f"/query, {clients} clients", **load(port, pool, clients, seconds), **info}]
        write_times = []
        writer_result: dict = {}

        def write_all() -> None:
            for i in range(writes):
                write_times.append(_post(port, "/documents", {"text": "\n".join(random.Random(i).sample(pool, 5)), "id": f"bench-{i}"}, TOKEN))

        def queries_during_writes() -> None:
            writer_result.update(load(port, pool, clients, max(seconds / 2, 1)))

        writer = threading.Thread(target=write_all)
        writer.start()
        queries_during_writes()
        writer.join()
        print("write times (s), in order: " + " ".join(f"{t:.2f}" for t in write_times), file=sys.stderr)
        rows.append({"load": f"/documents, one at a time ({writes})", "requests": writes, "qps": round(writes / sum(write_times), 3),
                     "p50_ms": round(1000 * _percentile(write_times, 0.5), 1), "p99_ms": round(1000 * max(write_times), 1), **info})
        rows.append({"load": f"/query, {clients} clients, during the writes", **writer_result, **info})
        return rows
    finally:
        proc.terminate()
        proc.wait(30)


def markdown(rows: list[dict]) -> str:
    lines = ["| load | requests | per second | p50 ms | p99 ms |", "| --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['load']} | {r['requests']:,} | {r['qps']} | {r['p50_ms']} | {r['p99_ms']} |")
    lines.append("")
    lines.append(f"Index: {rows[0]['paragraphs_indexed']:,} paragraphs. {rows[0]['machine']}, measured {rows[0]['when']}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench service", description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="100MB")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--writes", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    output_options(parser)
    args = parser.parse_args(argv)
    rows = run(parse_size(args.size), args.clients, args.seconds, args.writes, args.seed, args.work)
    return publish("service", rows, markdown(rows), args)


if __name__ == "__main__":
    sys.exit(main())
