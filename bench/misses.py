"""Why the copies a scan missed were missed: candidate generation, verification or clustering.

    python -m bench misses --truth DUMP/truth.jsonl --db DB [--show 3]

A copy is missed when it does not sit in the predicted cluster of its source's first
appearance (the ``found_by_mutation`` test of ``bench.score``). Each miss is sorted by the
first stage that lost it, from the scan's own tables (the ``checked`` table holds every pair
that was verified, i.e. every candidate, with its exact Jaccard and containment):

``no candidate, rule passes``   the copy's key was never verified against any key of its
                                source (its original or another copy), though the scan's own
                                rule accepts it against the original: LSH bands and anchors lost it
``no candidate, rule fails``    never verified, and the rule would reject it against the
                                original anyway
``verified, rule fails``        verified against keys of its source, rejected by the rule
``verified, rule passes``       an edge to a key of its source passed, but the clustering put
                                the copy elsewhere (another canonical, or alone)

Scores against the original are computed here on the scan's shingles (``MatchRule`` of the
stored config), so the rows say what a perfect candidate generator would have done.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from bench.score import ScoreError, load_truth
from dedup.compiled import make_normalizer
from dedup.config import ScanConfig
from dedup.match.verify import ShingleSets
from dedup.match.signatures import shingle_hashes
from dedup.store.lookup import stored_config, stored_key_texts

STAGES = ("no candidate, rule passes", "no candidate, rule fails", "verified, rule fails", "verified, rule passes")


def _line_keys(db: sqlite3.Connection) -> tuple[dict, dict]:
    """(path, line) -> (key id, cluster id or None) for every line, and key id -> key text."""
    lines = {}
    for path, start, end, key, cluster in db.execute(
        "SELECT d.path, p.line_start, p.line_end, p.key_id, p.cluster_id FROM paragraphs p JOIN documents d ON d.id = p.doc_id"
    ):
        for line in range(start, (end if end is not None else start) + 1):
            lines[(path, line)] = (key, cluster)
    keys = {key for key, _ in lines.values() if key is not None}
    return lines, stored_key_texts(db, keys, make_normalizer(stored_config(db).steps))


def diagnose(truth_path: Path, db_path: Path) -> list[dict]:
    """One record per missed copy: its line, mutations, stage (``STAGES``) and scores."""
    truth = load_truth(truth_path)
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        lines, texts = _line_keys(db)
        config = stored_config(db)
        checked = {(a, b): (j, c) for a, b, j, c in db.execute("SELECT a, b, jaccard, containment FROM checked")}
        sizes = dict(db.execute("SELECT id, set_size FROM keys"))
    finally:
        db.close()
    rule = config.match_rule()
    by_source = defaultdict(list)
    original = {}
    for k, r in truth.items():
        if k in lines and not r.source.startswith("boilerplate:"):
            by_source[r.source].append(k)
            if not r.copy:
                original.setdefault(r.source, k)
    missed = []
    for k, r in truth.items():
        if not r.copy or k not in lines or r.source not in original:
            continue
        key, cluster = lines[k]
        first_key, first_cluster = lines[original[r.source]]
        if (cluster is not None and cluster == first_cluster) or key is None or first_key is None:
            continue  # found, or a line whose normalized text is empty (no key to match)
        group = {lines[o][0] for o in by_source[r.source]} - {key, None}
        pairs = [checked.get((min(key, g), max(key, g))) for g in group]
        pairs = [p for p in pairs if p is not None]
        sz = [(sizes[key], sizes[g]) for g in group if (min(key, g), max(key, g)) in checked]
        passed = any(
            bool(rule.judge(np.array([j]), np.array([c]), np.array([a]), np.array([b]))[0]) for (j, c), (a, b) in zip(pairs, sz)
        )
        missed.append({"line": k, "mutations": r.mutations or ("none",), "partial": r.partial, "key": key,
                       "original_key": first_key, "verified": bool(pairs), "passed": passed})
    _score_against_original(missed, texts, config, rule)
    for m in missed:
        if not m["verified"]:
            m["stage"] = STAGES[0] if m["rule_vs_original"] else STAGES[1]
        else:
            m["stage"] = STAGES[3] if m["passed"] else STAGES[2]
        m["text"], m["original_text"] = texts[m["key"]], texts[m["original_key"]]
    return missed


def _score_against_original(missed: list[dict], texts: dict, config: ScanConfig, rule) -> None:
    """Jaccard, containment and the rule's verdict of every miss against its original's key."""
    keys = sorted({m["key"] for m in missed} | {m["original_key"] for m in missed})
    dense_k, k = config.shingle_sizes()
    sets = ShingleSets.from_shingles(*shingle_hashes([texts[x] for x in keys], k, config.seed, dense_k=dense_k))
    index = {x: i for i, x in enumerate(keys)}
    a = np.array([index[m["key"]] for m in missed], dtype=np.int64)
    b = np.array([index[m["original_key"]] for m in missed], dtype=np.int64)
    ok, jac, con = rule.apply(sets, a, b) if len(a) else (np.zeros(0, bool), np.zeros(0), np.zeros(0))
    for m, o, j, c, sa, sb in zip(missed, ok, jac, con, sets.sizes[a], sets.sizes[b]):
        m.update(rule_vs_original=bool(o), jaccard=round(float(j), 3), containment=round(float(c), 3),
                 size=int(sa), original_size=int(sb))


def breakdown(missed: list[dict]) -> dict[str, Counter]:
    """Misses by mutation (each mutation of a copy counted once) and stage."""
    table: dict[str, Counter] = defaultdict(Counter)
    for m in missed:
        for mutation in m["mutations"]:
            table[mutation][m["stage"]] += 1
        table["all"][m["stage"]] += 1
    return dict(table)


def markdown(table: dict[str, Counter]) -> str:
    rows = ["| mutation | missed | " + " | ".join(STAGES) + " |", "|" + " --- |" * (len(STAGES) + 2)]
    for mutation in sorted(table, key=lambda x: (x == "all", x)):
        c = table[mutation]
        rows.append(f"| {mutation} | {sum(c.values())} | " + " | ".join(str(c[s]) for s in STAGES) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench misses", description=__doc__.splitlines()[0])
    parser.add_argument("--truth", required=True, type=Path, help="truth.jsonl of the generated dump")
    parser.add_argument("--db", required=True, type=Path, help="dedup database of a scan of the dump's docs folder")
    parser.add_argument("--show", type=int, default=0, metavar="N", help="print N examples of each stage and mutation")
    parser.add_argument("--json", type=Path, help="write every miss as one JSON line here")
    args = parser.parse_args(argv)
    try:
        missed = diagnose(args.truth, args.db)
    except ScoreError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1
    print(markdown(breakdown(missed)))
    if args.json:
        args.json.write_text("".join(json.dumps({**m, "line": list(m["line"])}, ensure_ascii=False) + "\n" for m in missed), encoding="utf-8")
    shown: Counter = Counter()
    for m in missed:
        slot = (m["stage"], m["mutations"])
        if shown[slot] < args.show:
            shown[slot] += 1
            print(f"\n[{m['stage']}] {'+'.join(m['mutations'])} {m['line'][0]}:{m['line'][1]} "
                  f"J {m['jaccard']} C {m['containment']} sizes {m['size']}/{m['original_size']}\n  copy: {m['text']}\n  orig: {m['original_text']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
