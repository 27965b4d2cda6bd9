"""Recall and precision of a scan against exact Jaccard, on a sample of its keys.

    python -m bench accuracy --db dedup.db [--sample 20000] [--seed 1]

Truth without LSH: a uniform sample of the scan's distinct keys (those long enough to be
signed), their shingle sets computed exactly as the scan does, and every pair of sampled keys
that shares a shingle held by at most 1% of the sample (a pair at Jaccard 0.6 shares hundreds
of shingles; that all of them are stock phrases is possible only for stock phrases themselves)
has its exact Jaccard computed with sparse matrix products (after an exact filter on the count of
shared shingles that a pair at the threshold must reach).

* recall: of the sampled pairs with Jaccard >= threshold, the share whose paragraphs share a
  cluster in the database;
* precision: of the sampled pairs that share a cluster, the share that are verified copies,
  Jaccard >= threshold or a partial copy by the scan's containment rule. Two members of one
  cluster are each verified against the canonical, not against each other, so this can be
  below 1 without any wrong edge;
* member precision: of the sampled members with their canonical also sampled, the share whose
  stored relation holds on the exact sets (1 unless shingle ids collide): by the pair rule, or
  for a half of a broken line by the joined rule with its neighbour (match/joined.py);
  ``member_precision_pair_rule`` counts the pair rule alone.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from pathlib import Path

import numpy as np
from scipy import sparse

from dedup.config import ScanConfig
from dedup.compiled import make_normalizer
from dedup.config import MIN_KEY_CHARS
from dedup.match.signatures import shingle_hashes
from dedup.match.verify import ShingleSets

RARE_SHARE = 0.01


def accuracy(db_path: str | Path, sample: int = 20_000, seed: int = 1) -> dict:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    stored = json.loads(conn.execute("SELECT config FROM runs ORDER BY id DESC LIMIT 1").fetchone()[0])
    fields = {k: v for k, v in stored.items() if k in ScanConfig.__dataclass_fields__}
    fields["normalize"] = tuple(fields["normalize"]) if fields.get("normalize") else None
    config = ScanConfig(**fields)
    # one paragraph per fingerprint: its cluster (NULL when unclustered) stands for the key's
    rows = conn.execute(
        """SELECT fingerprint, min(id), cluster_id, text FROM paragraphs
           WHERE fingerprint IS NOT NULL AND key_len >= ? GROUP BY fingerprint""",
        [max(config.min_chars, MIN_KEY_CHARS)],
    ).fetchall()
    members = dict(conn.execute("SELECT paragraph_id, cluster_id FROM members").fetchall())
    canonical_of = dict(conn.execute("SELECT id, canonical_id FROM clusters").fetchall())
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(rows), size=min(sample, len(rows)), replace=False))
    normalizer = make_normalizer(config.steps)
    keys = [normalizer(rows[i][3]) for i in pick]
    pids = np.array([rows[i][1] for i in pick])
    clusters = np.array([rows[i][2] if rows[i][2] is not None else -1 - k for k, i in enumerate(pick)])
    dense_k, other_k = config.shingle_sizes()
    sets = ShingleSets.from_shingles(*shingle_hashes(keys, other_k, config.seed, dense_k=dense_k))

    # sparse key x shingle matrix of the rarer shingles; X @ X.T gives the candidate pairs
    ids, col = np.unique(sets.hashes, return_inverse=True)
    df = np.bincount(col)
    rows_of = np.repeat(np.arange(len(keys)), sets.sizes)
    rare = df[col] <= max(2, RARE_SHARE * len(keys))
    x = sparse.csr_matrix((np.ones(rare.sum(), dtype=np.int32), (rows_of[rare], col[rare])), shape=(len(keys), len(ids)))
    product = sparse.triu(x @ x.T, k=1).tocoo()
    a, b, shared_rare = product.row.astype(np.int64), product.col.astype(np.int64), product.data
    # exact filter before exact scoring: Jaccard >= t needs t * max(|A|, |B|) shared shingles,
    # containment >= c needs c * min(|A|, |B|); at most min(common_A, common_B) of them can be
    # the common shingles left out of the product, so fewer shared rare ones rule a pair out
    common = np.bincount(rows_of[~rare], minlength=len(keys))
    size_a, size_b = sets.sizes[a], sets.sizes[b]
    needed = np.minimum(
        config.threshold * np.maximum(size_a, size_b),
        (config.containment or 1.0) * np.minimum(size_a, size_b),
    ) - np.minimum(common[a], common[b])
    possible = shared_rare >= np.floor(needed - 1e-9)
    a, b = a[possible], b[possible]
    rule = config.match_rule()
    ok, jac, _ = rule.apply(sets, a, b)
    near = jac >= config.threshold - 1e-12
    same = clusters[a] == clusters[b]
    # every pair of sampled keys in one cluster, found or not by the rare shingles
    order = np.argsort(clusters, kind="stable")
    cl = clusters[order]
    co_a, co_b = [], []
    for start, stop in zip(*_runs(cl)):
        if cl[start] >= 0 and stop - start > 1:
            idx = order[start:stop]
            ii, jj = np.triu_indices(len(idx), k=1)
            co_a.append(idx[ii])
            co_b.append(idx[jj])
    co_a = np.concatenate(co_a) if co_a else np.zeros(0, np.int64)
    co_b = np.concatenate(co_b) if co_b else np.zeros(0, np.int64)
    co_ok, _, _ = rule.apply(sets, co_a, co_b) if len(co_a) else (np.zeros(0, bool), None, None)
    # members whose canonical is sampled too: does the stored relation hold on exact sets?
    where = {int(p): k for k, p in enumerate(pids)}
    mem_a, mem_b = [], []
    for k, pid in enumerate(pids.tolist()):
        cid = members.get(pid)
        canon = canonical_of.get(cid) if cid is not None else None
        if canon is not None and canon != pid and canon in where:
            mem_a.append(k)
            mem_b.append(where[canon])
    mem_ok, _, _ = rule.apply(sets, np.array(mem_a, dtype=np.int64), np.array(mem_b, dtype=np.int64)) if mem_a else (np.zeros(0, bool), None, None)
    by_pair_rule = mem_ok.copy()
    for i in np.nonzero(~mem_ok)[0].tolist():  # the halves of broken lines hold by the joined rule
        mem_ok[i] = _joined_holds(conn, int(pids[mem_a[i]]), keys[mem_a[i]], keys[mem_b[i]], config, normalizer)
    return {
        "sampled_keys": len(keys),
        "pairs_at_threshold": int(near.sum()),
        "recall": float(same[near].mean()) if near.any() else float("nan"),
        "copies_found_incl_partial": float(same[ok].mean()) if ok.any() else float("nan"),
        "co_member_pairs": int(len(co_a)),
        "precision": float(co_ok.mean()) if len(co_a) else float("nan"),
        "member_pairs": len(mem_a),
        "member_precision": float(mem_ok.mean()) if len(mem_a) else float("nan"),
        "member_precision_pair_rule": float(by_pair_rule.mean()) if len(mem_a) else float("nan"),
        "threshold": config.threshold,
    }


def _joined_holds(conn, pid: int, key: str, canonical: str, config: ScanConfig, normalizer) -> bool:
    """Does paragraph ``pid`` (key ``key``) copy ``canonical`` by the joined rule of
    dedup/match/joined.py with the paragraph before or after it, on exact shingle sets?"""
    from dedup.match.joined import judge_joined

    doc, idx = conn.execute("SELECT doc_id, idx FROM paragraphs WHERE id = ?", [pid]).fetchone()
    rule = config.match_rule()
    dense_k, other_k = config.shingle_sizes()
    for (other_idx, text) in conn.execute("SELECT idx, text FROM paragraphs WHERE doc_id = ? AND idx IN (?, ?)", [doc, idx - 1, idx + 1]):
        first, second = (normalizer(text), key) if other_idx < idx else (key, normalizer(text))
        sets = ShingleSets.from_shingles(*shingle_hashes([first, second, canonical], other_k, config.seed, dense_k=dense_k))
        pairs, _, _ = judge_joined(rule, lambda a, b: rule.apply(sets, a, b)[1:], sets.sizes, np.array([[0, 1, 2]]))
        if (1 if other_idx < idx else 0) in pairs[:, 0].tolist():
            return True
    return False


def _runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    starts = np.nonzero(np.r_[True, values[1:] != values[:-1]])[0] if len(values) else np.zeros(0, np.int64)
    return starts, np.r_[starts[1:], len(values)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench accuracy", description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True, help="database of a dedup scan")
    parser.add_argument("--sample", type=int, default=20_000, help="keys sampled (default 20000)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    print(json.dumps(accuracy(args.db, args.sample, args.seed), indent=2))
    return 0
