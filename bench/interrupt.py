"""Kill dedup at random points, many times, and check that nothing is lost or left broken.

    python -m bench interrupt [--kills 60] [--docs 300] [--seed 1]

A generated dump is the corpus. Three commands are run to completion once, for reference, and
then started again and again and killed (SIGINT and SIGKILL in turn) after a random delay
between 0 and 1.1 times their own uninterrupted duration:

* ``update``: ``dedup scan`` of the corpus into a database that holds the scan of it before
  10% of its files were added (an in-place SQLite transaction);
* ``full``: the same with ``--full`` (a new database written beside the old one and moved over
  it);
* ``clean``: ``dedup clean`` of the corpus into a new folder.

A kill is *survived* when afterwards

* the database passes ``PRAGMA integrity_check`` and holds either the previous complete result
  or the new one, every member, cluster field and summary count equal (never a mix);
* the corpus is byte for byte as it was, and every file ``clean`` left under its final name is
  complete (equal to the uninterrupted run's file);
* nothing printed a Python traceback, apart from CPython's own report of a Ctrl-C that lands
  in the interpreter's start-up (the first ~20 ms, before any dedup code runs; counted in the
  table's "in Python's start-up" column; every other check still applies to those runs);
* running the command again, without the kill, gives exactly the uninterrupted result.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from bench.report import machine, output_options, publish
from dedup.atomic import is_temporary

MODES = ("update", "full", "clean")
SIGNALS = (signal.SIGINT, signal.SIGKILL)


def db_result(db: Path) -> tuple | None:
    """What a database says (every member with its cluster's fields, and the summary counts),
    or None when there is no database; raises when it is not intact."""
    if not db.exists():
        return None
    conn = sqlite3.connect(db)
    try:
        if conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise AssertionError(f"{db}: integrity_check failed")
        members = sorted(
            conn.execute(
                """SELECT d.path, p.line_start, m.relation, round(m.similarity, 6), cd.path, cp.line_start, c.size,
                          c.n_documents, c.boilerplate, c.reason
                   FROM members m JOIN paragraphs p ON p.id = m.paragraph_id JOIN documents d ON d.id = p.doc_id
                   JOIN clusters c ON c.id = m.cluster_id JOIN paragraphs cp ON cp.id = c.canonical_id
                   JOIN documents cd ON cd.id = cp.doc_id"""
            )
        )
        counts = json.loads(conn.execute("SELECT counts FROM runs ORDER BY id DESC LIMIT 1").fetchone()[0])
        keep = ("documents", "paragraphs", "clusters", "duplicate_paragraphs", "duplicate_chars", "boilerplate_clusters")
        return tuple(members), tuple((k, counts[k]) for k in keep)
    finally:
        conn.close()


def tree_digest(folder: Path) -> dict[str, str]:
    """SHA-1 of every file below ``folder``, by relative path (hidden files included)."""
    return {p.relative_to(folder).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def dedup(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "dedup", *map(str, args)]


def _survivors(session: int, wait: float = 3.0) -> list[str]:
    """Processes of the killed run's session still alive (zombies aside) after ``wait``
    seconds: workers of a killed process end on their own (PR_SET_PDEATHSIG)."""
    deadline = time.monotonic() + wait
    while True:
        listed = subprocess.run(["ps", "-o", "pid=,stat=", "-s", str(session)], capture_output=True, text=True).stdout.split("\n")
        alive = [line.split()[0] for line in listed if line.strip() and not line.split()[1].startswith("Z")]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def in_python_startup(err: str) -> bool:
    """Whether ``err`` is CPython's own report of a Ctrl-C in its start-up, before any of
    dedup's code ran (no frame of the package in the traceback): the interpreter prints it
    while it imports ``site`` or looks for the module, and no Python code can catch it."""
    frames = [line for line in err.splitlines() if line.lstrip().startswith('File "')]
    package = os.sep + "dedup" + os.sep
    return "Traceback" in err and "KeyboardInterrupt" in err and not any(package in line for line in frames)


class Bench:
    """A corpus in two states (before and after 10% of its files were added), the reference
    results, and one killed run at a time."""

    def __init__(self, work: Path, n_docs: int, seed: int):
        from bench.generate import generate

        self.work = work / f"interrupt-{n_docs}-{seed}"
        shutil.rmtree(self.work, ignore_errors=True)
        generate(self.work / "dump", n_docs=n_docs, seed=seed, force=True)
        docs = sorted(p for p in (self.work / "dump" / "docs").rglob("*") if p.is_file())
        later = set(random.Random(seed).sample(range(len(docs)), max(1, len(docs) // 10)))
        self.corpus = self.work / "corpus"
        for i, path in enumerate(docs):
            if i not in later:
                self._put(path)
        self.before = self.work / "before.db"
        self._run(dedup("scan", self.corpus, "--db", self.before, "--quiet"))
        for i in sorted(later):
            self._put(docs[i])
        self.corpus_digest = tree_digest(self.corpus)
        self.expected_before = db_result(self.before)
        after = self.work / "after.db"
        self.durations = {}
        shutil.copy(self.before, after)
        self.durations["update"] = self._run(dedup("scan", self.corpus, "--db", after, "--quiet"))
        self.expected_after = db_result(after)
        full = self.work / "full.db"
        shutil.copy(self.before, full)
        self.durations["full"] = self._run(dedup("scan", self.corpus, "--db", full, "--full", "--quiet"))
        if db_result(full) != self.expected_after:
            raise AssertionError("the update and the full scan disagree")
        self.after = after
        self.clean_ref = self.work / "clean-ref"
        self.durations["clean"] = self._run(dedup("clean", self.corpus, "--db", after, "--out", self.clean_ref, "--quiet"))
        self.expected_clean = tree_digest(self.clean_ref)

    def _put(self, path: Path) -> None:
        target = self.corpus / path.relative_to(self.work / "dump" / "docs")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)

    @staticmethod
    def _run(cmd: list[str]) -> float:
        started = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr.strip()}")
        return time.perf_counter() - started

    def trial(self, n: int, mode: str, sig: int, delay: float) -> dict:
        """Start ``mode``, kill it with ``sig`` after ``delay`` seconds, check, finish, check."""
        folder = self.work / f"trial-{n}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        db = folder / "dedup.db"
        if mode == "clean":
            shutil.copy(self.after, db)
            cmd = dedup("clean", self.corpus, "--db", db, "--out", folder / "out", "--quiet")
        else:
            shutil.copy(self.before, db)
            cmd = dedup("scan", self.corpus, "--db", db, "--quiet", *(["--full"] if mode == "full" else []))
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        time.sleep(delay)
        finished_first = proc.poll() is not None
        if not finished_first:
            # Ctrl-C reaches the whole process group, as from a terminal; SIGKILL the main
            # process alone, as the OOM killer does (its workers must not live on)
            if sig == signal.SIGINT:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)
        _, err = proc.communicate()
        orphans = _survivors(proc.pid)
        outcome = {"trial": n, "mode": mode, "signal": signal.Signals(sig).name, "delay_s": round(delay, 3), "finished_first": finished_first,
                   "exit": proc.returncode}
        problems = []
        if orphans:
            problems.append(f"{len(orphans)} worker processes outlived the kill")
            for pid in orphans:
                os.kill(int(pid), signal.SIGKILL)
        outcome["in_startup"] = in_python_startup(err)
        if "Traceback" in err and not outcome["in_startup"]:
            problems.append("traceback: " + err.strip().splitlines()[-1])
        if tree_digest(self.corpus) != self.corpus_digest:
            problems.append("the corpus changed")
        try:
            state = db_result(db)
            if mode == "clean":
                out = folder / "out"
                partial = tree_digest(out) if out.exists() else {}
                wrong = [p for p, h in partial.items() if self.expected_clean.get(p) != h and not is_temporary(Path(p).name)]
                if wrong:
                    problems.append(f"clean left {len(wrong)} incomplete or wrong files, e.g. {wrong[0]}")
                if state != self.expected_after:
                    problems.append("clean changed the database")
            elif state not in (self.expected_before, self.expected_after):
                problems.append("the database holds neither the previous result nor the new one")
            outcome["state"] = "new" if state == self.expected_after else "previous"
        except (AssertionError, sqlite3.DatabaseError) as e:
            problems.append(f"database: {e}")
        # finish the job
        if mode == "clean":
            again = subprocess.run(dedup("clean", self.corpus, "--db", db, "--out", folder / "out", "--force", "--quiet"), capture_output=True, text=True)
            if again.returncode != 0 or tree_digest(folder / "out") != self.expected_clean:
                problems.append(f"clean run again did not give the uninterrupted output: {again.stderr.strip()[-200:]}")
        else:
            again = subprocess.run(dedup("scan", self.corpus, "--db", db, "--quiet"), capture_output=True, text=True)
            try:
                if again.returncode != 0 or db_result(db) != self.expected_after:
                    problems.append(f"the scan run again did not give the uninterrupted result: {again.stderr.strip()[-200:]}")
            except (AssertionError, sqlite3.DatabaseError) as e:
                problems.append(f"database after the rerun: {e}")
        if "Traceback" in again.stderr:
            problems.append("traceback on the rerun")
        if tree_digest(self.corpus) != self.corpus_digest:
            problems.append("the corpus changed on the rerun")
        shutil.rmtree(folder, ignore_errors=True)
        outcome["survived"] = not problems
        outcome["problems"] = "; ".join(problems)
        return outcome


def run(work: Path, kills: int, n_docs: int, seed: int) -> list[dict]:
    bench = Bench(work, n_docs, seed)
    rng = random.Random(seed)
    rows = []
    for n in range(kills):
        mode, sig = MODES[n % len(MODES)], SIGNALS[(n // len(MODES)) % len(SIGNALS)]
        rows.append(bench.trial(n, mode, sig, rng.uniform(0, 1.1 * bench.durations[mode])))
        print(json.dumps(rows[-1], ensure_ascii=False), flush=True)
    info = machine()
    for row in rows:
        row.update(info, docs=n_docs, **{f"{m}_s": round(d, 2) for m, d in bench.durations.items()})
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| command | signal | kills | landed before the end | in Python's start-up | survived | database afterwards: previous / new |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for mode in MODES:
        for sig in SIGNALS:
            group = [r for r in rows if r["mode"] == mode and r["signal"] == signal.Signals(sig).name]
            if not group:
                continue
            landed = [r for r in group if not r["finished_first"]]
            states = f"{sum(r.get('state') == 'previous' for r in group)} / {sum(r.get('state') == 'new' for r in group)}"
            startup = sum(bool(r.get("in_startup")) for r in group)
            lines.append(f"| {mode} | {signal.Signals(sig).name} | {len(group)} | {len(landed)} | {startup} | {sum(r['survived'] for r in group)} | {states} |")
    failed = [r for r in rows if not r["survived"]]
    r0 = rows[0]
    lines.append("")
    lines.append(
        f"{len(rows)} kills, {sum(r['survived'] for r in rows)} survived, on a generated dump of {r0['docs']} documents "
        f"(uninterrupted: update {r0['update_s']} s, full scan {r0['full_s']} s, clean {r0['clean_s']} s, each with Python's start). "
        f"{r0['machine']}, measured {r0['when']}."
    )
    for r in failed[:5]:
        lines.append(f"- trial {r['trial']} ({r['mode']}, {r['signal']} after {r['delay_s']} s): {r['problems']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench interrupt", description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=60)
    parser.add_argument("--docs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    output_options(parser)
    args = parser.parse_args(argv)
    rows = run(args.work, args.kills, args.docs, args.seed)
    code = publish("interrupt", rows, markdown(rows), args)
    return code or int(not all(r["survived"] for r in rows))


if __name__ == "__main__":
    sys.exit(main())
