"""Real licence text: do near-identical paragraphs share a cluster?

    python -m bench debian [--source '/usr/share/doc/*/copyright'] [--min-jaccard 0.9]
                           [--split auto] [--explain 20] [--work bench/out] [--results bench/results]

Copies every file matching ``--source`` (Debian's copyright files: licence texts quoted,
wrapped and re-wrapped by hundreds of maintainers) into a temporary corpus as
``<package>.txt``, scans it with the default config, and finds *every* pair of paragraphs
whose exact Jaccard is at least ``--min-jaccard`` on an oracle of its own: the character
5-grams of the lowercased text with everything but letters, digits and white space removed
and white space made one space (no MinHash, no LSH, none of dedup's normalizer). It reports how many of those pairs the scan put in one
cluster, and for the pairs it split, why (``--explain`` prints examples of each kind):

- ``unclustered``: one side is in no cluster at all;
- ``never verified``: the two keys never became a verified pair (LSH and the anchors missed
  it), and each went to a canonical the other does not match;
- ``other canonical``: the pair was verified, but the two went to different canonicals.

All pairs are found exactly by prefix filtering (Bayardo et al., "Scaling up all pairs
similarity search", WWW 2007). Order the 5-grams of the whole corpus by frequency, rarest
first, and sort every set in that order. If J(x, y) >= t then |x & y| >= t * |x | y| >=
ceil(t * |x|) =: a, and the first common 5-gram of x and y (in that order) has at least a - 1
common 5-grams after it in x, so it lies among the first |x| - a + 1 of x; the same holds for
y. So every such pair shares a 5-gram of their two prefixes, and only pairs that do are
scored (with |y| >= t * |x|, since J <= |x| / |y|). The prefixes hold the rarest 5-grams,
so their posting lists are short; the check is an exact set intersection.

Identical oracle keys are one set with a count of paragraphs: a pair of keys stands for
``count_a * count_b`` pairs of paragraphs, a key for ``count * (count - 1) / 2``. The figure
that matters is the share of pairs of *different* texts: "all pairs" adds the pairs of
identical texts, which thousands of one-line fields dominate (7,200 "Files:" and "Files: *"
make 26 million pairs, and the oracle, which drops every symbol, calls those two the same
text, which dedup does not: its ``*`` is a placeholder). Results go to ``debian.csv`` and the table into
bench/README.md.
"""

from __future__ import annotations

import argparse
import glob
import math
import shutil
import sqlite3
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from bench.report import machine, output_options, publish
from dedup.config import ScanConfig
from dedup.pipeline import scan

SHINGLE = 5


def build_corpus(pattern: str, out: Path) -> int:
    """Copy every file matching ``pattern`` to ``out/<parent folder>.txt`` (the package name)."""
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for path in sorted(glob.glob(pattern)):
        p = Path(path)
        if p.is_file():
            shutil.copyfile(p, out / f"{p.parent.name}.txt")
            n += 1
    return n


def oracle_key(text: str) -> str:
    """The lowercased text without punctuation, its white space one space: what the oracle
    compares (re-wrapping a paragraph changes nothing in it; a changed word does).

    >>> oracle_key("Copyright (C) 2010,\\n  Google Inc. -- and/or")
    'copyright c 2010 google inc andor'
    """
    return " ".join("".join(ch for ch in text.lower() if ch.isalnum() or ch.isspace()).split())


def shingles(key: str, k: int = SHINGLE) -> set[str]:
    """The character k-grams of a key (none when it is shorter than k).

    >>> sorted(shingles("abcdef"))
    ['abcde', 'bcdef']
    """
    return {key[i : i + k] for i in range(len(key) - k + 1)}


def similar_pairs(sets: list[set], t: float) -> list[tuple[int, int, float]]:
    """Every pair (i, j, Jaccard), i < j, of ``sets`` with Jaccard >= t, by prefix filtering
    (see the module docstring for why none is missed).

    >>> similar_pairs([{1, 2, 3, 4}, {1, 2, 3, 4, 5}, {7, 8}, {1, 2, 3}], 0.75)
    [(0, 1, 0.8), (0, 3, 0.75)]
    """
    freq = Counter(s for x in sets for s in x)
    rank = {s: r for r, (s, _) in enumerate(sorted(freq.items(), key=lambda kv: (kv[1], kv[0])))}
    ordered = [sorted(rank[s] for s in x) for x in sets]
    by_size = sorted(range(len(sets)), key=lambda i: (len(ordered[i]), i))
    index: dict[int, list[int]] = defaultdict(list)  # token -> earlier (smaller) sets with it in their prefix
    found = []
    for i in by_size:
        x = ordered[i]
        if not x:
            continue
        prefix = len(x) - math.ceil(t * len(x) - 1e-9) + 1
        candidates = set()
        for token in x[:prefix]:
            for j in index[token]:
                if len(ordered[j]) >= t * len(x) - 1e-9:
                    candidates.add(j)
            index[token].append(i)
        xs = sets[i]
        for j in candidates:
            inter = len(xs & sets[j])
            jac = inter / (len(xs) + len(sets[j]) - inter)
            if jac >= t - 1e-12:
                found.append((min(i, j), max(i, j), round(jac, 6)))
    return sorted(found)


@dataclass
class Side:
    """The paragraphs of one oracle key: how many in each cluster (None: in no cluster)."""

    text: str
    clusters: Counter
    paragraph: int  # one paragraphs.id of it, for the explanations
    key_id: int | None  # its dedup key

    @property
    def count(self) -> int:
        return sum(self.clusters.values())


def load_sides(db: Path) -> list[Side]:
    """Paragraphs of the scan grouped by oracle key (keys of 5+ characters only)."""
    sides: dict[str, Side] = {}
    with sqlite3.connect(db) as conn:
        for pid, text, cluster, key_id in conn.execute("SELECT id, text, cluster_id, key_id FROM paragraphs ORDER BY id"):
            key = oracle_key(text)
            if len(key) < SHINGLE:
                continue
            side = sides.get(key)
            if side is None:
                side = sides[key] = Side(text, Counter(), pid, key_id)
            side.clusters[cluster] += 1
    return list(sides.values())


def same_cluster(a: Side, b: Side | None = None) -> tuple[int, int]:
    """(pairs of paragraphs, pairs in one cluster) between two keys, or within one."""
    if b is None:
        total = a.count * (a.count - 1) // 2
        return total, sum(n * (n - 1) // 2 for c, n in a.clusters.items() if c is not None)
    return a.count * b.count, sum(n * b.clusters.get(c, 0) for c, n in a.clusters.items() if c is not None)


def explain(db: Path, a: Side, b: Side) -> tuple[str, str]:
    """Why a split pair is split: its kind and one line on each side's cluster."""
    with sqlite3.connect(db) as conn:
        def where(side: Side) -> str:
            row = conn.execute(
                "SELECT p.cluster_id, d.path, p.line_start, m.relation, m.similarity, m.containment, c.canonical_id "
                "FROM paragraphs p JOIN documents d ON d.id = p.doc_id LEFT JOIN members m ON m.paragraph_id = p.id "
                "LEFT JOIN clusters c ON c.id = p.cluster_id WHERE p.id = ?", (side.paragraph,)).fetchone()
            cluster, path, line, relation, sim, con, canon = row
            if cluster is None:
                return f"{path}:{line} in no cluster"
            cpath, cline = conn.execute(
                "SELECT d.path, p.line_start FROM paragraphs p JOIN documents d ON d.id = p.doc_id WHERE p.id = ?", (canon,)).fetchone()
            return f"{path}:{line} {relation} {sim:.2f}/{con:.2f} of #{cluster} ({cpath}:{cline})"

        if None in a.clusters and len(a.clusters) == 1 or None in b.clusters and len(b.clusters) == 1:
            kind = "unclustered"
        else:
            x, y = sorted((a.key_id, b.key_id))
            checked = conn.execute("SELECT jaccard, containment FROM checked WHERE a = ? AND b = ?", (x, y)).fetchone()
            kind = "other canonical" if checked else "never verified"
            if checked:
                return kind, f"{where(a)}  |  {where(b)}  (pair verified: {checked[0]:.2f}/{checked[1]:.2f})"
        return kind, f"{where(a)}  |  {where(b)}"


def run(source: str, t: float, split: str, n_explain: int, work: Path) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        corpus, db = Path(tmp) / "corpus", Path(tmp) / "debian.db"
        n_files = build_corpus(source, corpus)
        config = ScanConfig(split=split)
        started = time.perf_counter()
        scan(corpus, config, db)
        scan_seconds = time.perf_counter() - started
        with sqlite3.connect(db) as conn:
            n_paragraphs = conn.execute("SELECT count(*) FROM paragraphs").fetchone()[0]
        sides = load_sides(db)
        started = time.perf_counter()
        pairs = similar_pairs([shingles(oracle_key(s.text)) for s in sides], t)
        join_seconds = time.perf_counter() - started
        exact = [same_cluster(s) for s in sides]
        near = [same_cluster(sides[i], sides[j]) for i, j, _ in pairs]
        kinds: Counter = Counter()
        examples: dict[str, list[str]] = defaultdict(list)
        for (i, j, jac), (total, together) in zip(pairs, near):
            if together < total:
                kind, line = explain(db, sides[i], sides[j])
                kinds[kind] += total - together
                if len(examples[kind]) < n_explain:
                    examples[kind].append(f"  J={jac:.2f} x{total - together}: {line}")
    for kind, lines in examples.items():
        print(f"{kind} ({kinds[kind]:,} pairs of paragraphs):")
        print("\n".join(lines))
    all_total = sum(x for x, _ in exact) + sum(x for x, _ in near)
    all_together = sum(y for _, y in exact) + sum(y for _, y in near)
    near_total, near_together = sum(x for x, _ in near), sum(y for _, y in near)
    return {
        "files": n_files,
        "paragraphs": n_paragraphs,
        "split": split,
        "min_jaccard": t,
        "pairs": all_total,
        "pairs_together": all_together,
        "share_together": round(all_together / all_total, 4) if all_total else 1.0,
        "distinct_pairs": near_total,
        "distinct_together": near_together,
        "distinct_share": round(near_together / near_total, 4) if near_total else 1.0,
        "split_kinds": "; ".join(f"{k} {v}" for k, v in kinds.most_common()),
        "scan_seconds": round(scan_seconds, 1),
        "join_seconds": round(join_seconds, 1),
        **machine(),
    }


def markdown(row: dict) -> str:
    lines = [
        "| files | paragraphs | pairs of different texts at J >= {t} | in one cluster | all pairs at J >= {t} | in one cluster |".format(t=row["min_jaccard"]),
        "| --- | --- | --- | --- | --- | --- |",
        f"| {row['files']:,} | {row['paragraphs']:,} | {row['distinct_pairs']:,} | {row['distinct_share']:.2%} "
        f"| {row['pairs']:,} | {row['share_together']:.2%} |",
        "",
        f"Split pairs by kind: {row['split_kinds'] or 'none'}. `--split {row['split']}`, scan "
        f"{row['scan_seconds']} s, exact join {row['join_seconds']} s, {row['machine']}, dedup {row['dedup_version']}.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench debian", description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="/usr/share/doc/*/copyright", help="glob of the files to scan (default: Debian's copyright files)")
    parser.add_argument("--min-jaccard", type=float, default=0.9, help="exact Jaccard of the pairs that should share a cluster (default 0.9)")
    parser.add_argument("--split", default="auto", help="the scan's --split (default auto)")
    parser.add_argument("--explain", type=int, default=5, help="examples of split pairs to print per kind (default 5)")
    output_options(parser)
    args = parser.parse_args(argv)
    row = run(args.source, args.min_jaccard, args.split, args.explain, args.work)
    return publish("debian", [row], markdown(row), args)
