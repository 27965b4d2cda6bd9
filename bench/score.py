"""Score predicted clusters against the truth of a generated dump (see bench/generate.py).

    python -m bench.generate --out bench/out/dump --docs 500
    dedup scan bench/out/dump/docs --db bench/out/dump.db
    python -m bench.score --truth bench/out/dump/truth.jsonl --db bench/out/dump.db

Items are paragraph lines, keyed ``(path, line)``; only lines in both the truth and the
prediction are scored. True clusters group the lines by ``source``. A predicted label of
``None`` is a singleton. Every metric is computed from the contingency table

    n_ij = number of lines in true cluster i and predicted cluster j,
    a_i = sum_j n_ij (true cluster sizes),  b_j = sum_i n_ij (predicted cluster sizes),

so nothing ever enumerates pairs: a cluster of 10,000 lines is one cell, not 50 million pairs.

Page furniture (sources ``boilerplate:<k>``: a site's navigation, copyright line... on most of
its pages) is scored apart, by the precision and recall of the boilerplate flag on every line;
the clustering and copy metrics count the other lines only, since a few furniture clusters of
thousands of lines would otherwise hold most of the pairs and hide every error on real reuse.
"""

from __future__ import annotations

import argparse
import json
import math
import sqlite3
import sys
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Prediction",
    "ScoreError",
    "adjusted_rand_index",
    "bcubed",
    "boilerplate_flags",
    "contingency",
    "copy_decisions",
    "load_passages",
    "load_truth",
    "main",
    "passage_scores",
    "pair_scores",
    "predicted_from_db",
    "predicted_passages",
    "score",
]

Key = tuple[str, int]


class ScoreError(Exception):
    """The truth or the prediction cannot be scored; ``str(error)`` says why and what to do."""


def comb2(n: int) -> int:
    """Number of unordered pairs among n items, C(n, 2).

    >>> comb2(0), comb2(1), comb2(2), comb2(10_000)
    (0, 0, 1, 49995000)
    """
    return n * (n - 1) // 2


@dataclass(frozen=True)
class Contingency:
    """The contingency table of two labellings of the same n items (Hubert & Arabie 1985)."""

    n: int
    cells: tuple[int, ...]  # the non-zero n_ij
    cell_rows: tuple[int, ...]  # a_i of each cell's true cluster
    cell_cols: tuple[int, ...]  # b_j of each cell's predicted cluster
    rows: tuple[int, ...]  # every a_i
    cols: tuple[int, ...]  # every b_j


def _dense(labels: Iterable[Hashable | None]) -> list[int]:
    """Labels as 0..k-1, each ``None`` a fresh label of its own (a singleton)."""
    ids: dict = {}
    out = []
    next_id = 0
    for label in labels:
        if label is None or label not in ids:
            if label is not None:
                ids[label] = next_id
            out.append(next_id)
            next_id += 1
        else:
            out.append(ids[label])
    return out


def contingency(truth: Sequence[Hashable | None], pred: Sequence[Hashable | None]) -> Contingency:
    """The contingency table of two equally long labellings (``None`` = singleton).

    >>> c = contingency("aab", "xyy")
    >>> c.n, sorted(c.cells), sorted(c.rows), sorted(c.cols)
    (3, [1, 1, 1], [1, 2], [1, 2])
    """
    if len(truth) != len(pred):
        raise ValueError(f"labellings differ in length: {len(truth)} and {len(pred)}")
    t, p = _dense(truth), _dense(pred)
    cells = Counter(zip(t, p))
    rows = Counter(t)
    cols = Counter(p)
    keys = list(cells)
    return Contingency(
        n=len(t),
        cells=tuple(cells[k] for k in keys),
        cell_rows=tuple(rows[i] for i, _ in keys),
        cell_cols=tuple(cols[j] for _, j in keys),
        rows=tuple(rows.values()),
        cols=tuple(cols.values()),
    )


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def _prf(hits: int, predicted: int, true: int) -> dict[str, float]:
    """Precision, recall and F1 from counts; with nothing predicted (or nothing to find) the
    precision (recall) is 1: no wrong claim was made (nothing was missed)."""
    precision = hits / predicted if predicted else 1.0
    recall = hits / true if true else 1.0
    return {"precision": precision, "recall": recall, "f1": _f1(precision, recall)}


def pair_scores(c: Contingency) -> dict[str, float]:
    """Pair-counting precision, recall and F1.

    A pair of items is a true positive when both labellings put it in one cluster. With the
    contingency table (Manning, Raghavan & Schütze, *Introduction to Information Retrieval*,
    2008, section 16.3; Hubert & Arabie 1985):

        TP = sum_ij C(n_ij, 2),  predicted pairs = sum_j C(b_j, 2),  true pairs = sum_i C(a_i, 2)
        precision = TP / predicted pairs,  recall = TP / true pairs,  F1 = 2PR / (P + R)

    With no predicted pair precision is 1 (no wrong pair was claimed); with no true pair
    recall is 1 (there was nothing to find).
    """
    tp = sum(comb2(x) for x in c.cells)
    pred_pairs = sum(comb2(x) for x in c.cols)
    true_pairs = sum(comb2(x) for x in c.rows)
    return {
        **_prf(tp, pred_pairs, true_pairs),
        "true_positive_pairs": tp,
        "predicted_pairs": pred_pairs,
        "true_pairs": true_pairs,
    }


def bcubed(c: Contingency) -> dict[str, float]:
    """B-cubed precision, recall and F1 (Bagga & Baldwin 1998; Amigó et al. 2009).

    For item e with predicted cluster C(e) and true cluster L(e):

        precision = mean_e |C(e) ∩ L(e)| / |C(e)|,   recall = mean_e |C(e) ∩ L(e)| / |L(e)|

    The n_ij items of a cell share both clusters, so the means are
    (1/n) sum_ij n_ij^2 / b_j and (1/n) sum_ij n_ij^2 / a_i. F1 is their harmonic mean
    (Amigó's F with alpha = 0.5).
    """
    if c.n == 0:
        return {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    precision = math.fsum(x * x / b for x, b in zip(c.cells, c.cell_cols)) / c.n
    recall = math.fsum(x * x / a for x, a in zip(c.cells, c.cell_rows)) / c.n
    return {"precision": precision, "recall": recall, "f1": _f1(precision, recall)}


def adjusted_rand_index(c: Contingency) -> float:
    """Adjusted Rand index (Hubert & Arabie 1985, "Comparing partitions", J. Classification 2).

        index    = sum_ij C(n_ij, 2)
        expected = sum_i C(a_i, 2) * sum_j C(b_j, 2) / C(n, 2)
        max      = (sum_i C(a_i, 2) + sum_j C(b_j, 2)) / 2
        ARI      = (index - expected) / (max - expected)

    Computed in exact integers (multiplied through by 2 C(n, 2)) and divided once. 1 for
    identical partitions, about 0 for independent ones, negative below chance. When
    max == expected (both partitions all singletons, or both one cluster) the partitions are
    identical and the ARI is 1.
    """
    index = sum(comb2(x) for x in c.cells)
    sum_a = sum(comb2(x) for x in c.rows)
    sum_b = sum(comb2(x) for x in c.cols)
    total = comb2(c.n)
    numerator = 2 * (index * total - sum_a * sum_b)
    denominator = (sum_a + sum_b) * total - 2 * sum_a * sum_b
    if denominator == 0:
        return 1.0
    return numerator / denominator


def boilerplate_flags(truth_furniture: Sequence[bool], flagged: Sequence[bool]) -> dict[str, float]:
    """Precision and recall of the per-line decision "this line is page furniture".

    Truth: the line's source is a ``boilerplate:`` one (a site's head, tail or between-section
    line, or a cross-site prefix). Predicted: the detector flags the line's cluster.

    >>> boilerplate_flags([True, True, False, False], [True, False, True, False])["precision"]
    0.5
    """
    both = sum(t and p for t, p in zip(truth_furniture, flagged))
    n_pred, n_true = sum(flagged), sum(truth_furniture)
    return {**_prf(both, n_pred, n_true), "flagged_lines": n_pred, "furniture_lines": n_true}


def copy_decisions(
    truth_copy: Sequence[bool], pred: Sequence[Hashable | None], is_canonical: Sequence[bool]
) -> dict[str, float]:
    """Precision and recall of the per-line decision "this line is a copy".

    Truth: ``copy`` of the record. Predicted: the line is in a predicted cluster of two or
    more scored lines and is not that cluster's canonical. Precision with no predicted copy
    and recall with no true copy are 1.
    """
    sizes = Counter(label for label in pred if label is not None)
    predicted = [
        label is not None and sizes[label] >= 2 and not canon for label, canon in zip(pred, is_canonical)
    ]
    both = sum(t and p for t, p in zip(truth_copy, predicted))
    n_pred, n_true = sum(predicted), sum(truth_copy)
    return {
        **_prf(both, n_pred, n_true),
        "predicted_copies": n_pred,
        "true_copies": n_true,
    }


# --------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True)
class TruthRecord:
    source: str
    copy: bool
    partial: bool
    mutations: tuple[str, ...]


def load_truth(truth_path: str | Path) -> dict[Key, TruthRecord]:
    """The truth of a generated dump: (path, line) -> record, in file order."""
    path = Path(truth_path)
    if not path.is_file():
        raise ScoreError(f"no truth file at {path} - generate a dump with python -m bench.generate")
    truth: dict[Key, TruthRecord] = {}
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
                truth[(r["path"], int(r["line"]))] = TruthRecord(
                    r["source"], bool(r["copy"]), bool(r.get("partial", False)), tuple(r.get("mutations", ()))
                )
            except (ValueError, KeyError, TypeError) as e:
                raise ScoreError(
                    f"{path}:{number} is not a truth record ({e}) - regenerate the dump"
                ) from None
    return truth


@dataclass(frozen=True)
class Prediction:
    """A detector's answer: a cluster label per line (``None``: singleton), the canonical lines,
    and the lines it calls page furniture (``None``: it has no such flag)."""

    labels: dict[Key, Hashable | None]
    canonicals: frozenset[Key]
    boilerplate: frozenset[Key] | None = None


def predicted_from_db(db_path: str | Path) -> Prediction:
    """Read clusters from a dedup database (the storage contract of DESIGN.md).

    Label of a line: its paragraph's ``cluster_id``; a paragraph with ``cluster_id`` NULL is a
    singleton and gets the unique label ``-paragraph id``. Every line from ``line_start`` to
    ``line_end`` of a paragraph carries its label (a multi-line paragraph is one item per
    line, all in one cluster). Canonicals: the lines of each ``clusters.canonical_id``.
    Boilerplate: the lines of the clusters whose ``boilerplate`` column is set (None when the
    database has no such column).
    """
    path = Path(db_path)
    if not path.is_file():
        raise ScoreError(f"no database at {path} - run dedup scan on the dump first")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        labels: dict[Key, Hashable | None] = {}
        for doc_path, pid, start, end, cluster in db.execute(
            "SELECT d.path, p.id, p.line_start, p.line_end, p.cluster_id "
            "FROM paragraphs p JOIN documents d ON d.id = p.doc_id"
        ):
            label = cluster if cluster is not None else -pid
            for line in range(start, (end if end is not None else start) + 1):
                labels[(doc_path, line)] = label
        def lines(sql: str) -> frozenset[Key]:
            return frozenset(
                (doc_path, line)
                for doc_path, start, end in db.execute(sql)
                for line in range(start, (end if end is not None else start) + 1)
            )

        canonicals = lines(
            "SELECT d.path, p.line_start, p.line_end FROM clusters c "
            "JOIN paragraphs p ON p.id = c.canonical_id JOIN documents d ON d.id = p.doc_id"
        )
        flags = any(row[1] == "boilerplate" for row in db.execute("PRAGMA table_info(clusters)"))  # not in the contract
        boilerplate = lines(
            "SELECT d.path, p.line_start, p.line_end FROM clusters c JOIN paragraphs p ON p.cluster_id = c.id "
            "JOIN documents d ON d.id = p.doc_id WHERE c.boilerplate"
        ) if flags else None
    except sqlite3.DatabaseError as e:
        raise ScoreError(f"{path} is not a dedup database ({e}) - run dedup scan on the dump first") from None
    finally:
        db.close()
    return Prediction(labels, canonicals, boilerplate)


def _align(truth: Mapping[Key, object], predicted: Mapping[Key, object]) -> dict[Key, Key]:
    """Predicted key -> truth key. Paths match as they are or, when the scan root was a parent
    of the dump's docs folder, after dropping the same leading folders from every path.
    """
    direct = {k: k for k in predicted if k in truth}
    if direct:
        return direct
    truth_paths = {p for p, _ in truth}
    prefix = None
    for p, _ in predicted:
        parts = p.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[i:]) in truth_paths:
                prefix = "/".join(parts[:i]) + "/"
                break
        if prefix:
            break
    if prefix is None:
        return {}
    return {
        k: (k[0][len(prefix) :], k[1])
        for k in predicted
        if k[0].startswith(prefix) and (k[0][len(prefix) :], k[1]) in truth
    }


def score(
    truth_path: str | Path,
    predicted: Mapping[Key, Hashable | None] | Prediction,
    canonical: Iterable[Key] | None = None,
) -> dict:
    """All metrics of a prediction against the truth, as a flat dict.

    ``predicted`` maps (path, line) -> cluster label, or is a ``Prediction`` (whose canonicals
    are used unless ``canonical`` is given). Without canonicals, a cluster's canonical is its
    first line in (path, line) order: the earliest document, as the generator writes originals
    before their copies.
    """
    flagged = None
    if isinstance(predicted, Prediction):
        canonical = predicted.canonicals if canonical is None else canonical
        flagged = predicted.boilerplate
        predicted = predicted.labels
    truth = load_truth(truth_path)
    mapping = _align(truth, predicted)
    if not mapping:
        raise ScoreError(
            "no line of the truth is in the prediction - scan the dump's docs folder itself, "
            "so that paths look like s00/d000/000000.txt"
        )
    all_keys = sorted(mapping, key=lambda k: mapping[k])
    furniture = {k for k in all_keys if truth[mapping[k]].source.startswith("boilerplate:")}
    pred_keys = [k for k in all_keys if k not in furniture]
    keys = [mapping[k] for k in pred_keys]
    records = [truth[k] for k in keys]
    true_labels = [r.source for r in records]
    pred_labels = [predicted[k] for k in pred_keys]
    if canonical is None:
        firsts: dict = {}
        for k, label in zip(pred_keys, pred_labels):
            if label is not None:
                firsts.setdefault(label, k)
        canon = set(firsts.values())
    else:
        canon = set(canonical)
    is_canonical = [k in canon for k in pred_keys]

    c = contingency(true_labels, pred_labels)
    pairs = pair_scores(c)
    b3 = bcubed(c)
    copies = copy_decisions([r.copy for r in records], pred_labels, is_canonical)
    result = {
        "lines_truth": len(truth),
        "lines_predicted": len(predicted),
        "lines_scored": len(all_keys),
        "content_lines_scored": c.n,
        "true_clusters": len(c.rows),
        "predicted_clusters": len(c.cols),
        "pair_precision": pairs["precision"],
        "pair_recall": pairs["recall"],
        "pair_f1": pairs["f1"],
        "bcubed_precision": b3["precision"],
        "bcubed_recall": b3["recall"],
        "bcubed_f1": b3["f1"],
        "ari": adjusted_rand_index(c),
        "copy_precision": copies["precision"],
        "copy_recall": copies["recall"],
        "copy_f1": copies["f1"],
        "true_copies": copies["true_copies"],
        "predicted_copies": copies["predicted_copies"],
    }
    if flagged is not None:
        flags = boilerplate_flags([k in furniture for k in all_keys], [k in flagged for k in all_keys])
        result.update({f"boilerplate_{k}": v for k, v in flags.items()})
    result["found_by_mutation"] = _found_by_mutation(records, pred_labels)
    return result


def _found_by_mutation(records: list[TruthRecord], pred_labels: list) -> dict[str, float]:
    """Per mutation ("none" for exact copies): the share of copies carrying it that sit in the
    predicted cluster of their source's first appearance. Only sources whose first appearance
    was scored count.
    """
    first_label: dict[str, Hashable | None] = {}
    for r, label in zip(records, pred_labels):
        if not r.copy:
            first_label[r.source] = label
    found: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for r, label in zip(records, pred_labels):
        if not r.copy or r.source not in first_label:
            continue
        hit = label is not None and label == first_label[r.source]
        for m in r.mutations or ("none",):
            total[m] += 1
            found[m] += hit
    return {m: found[m] / total[m] for m in sorted(total)}


# --------------------------------------------------------------------------------------------
# Passages: runs of paragraphs copied together (passages.jsonl of bench/generate.py)

Span = tuple[str, int, int]  # path, first line, last line


def load_passages(passages_path: str | Path) -> list[tuple[Span, Span]]:
    """The copied runs of a generated dump: (source span, copy span) per record."""
    path = Path(passages_path)
    if not path.is_file():
        raise ScoreError(f"no passages file at {path} - generate the dump again with this bench.generate")
    runs = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
                runs.append(((r["source_path"], *map(int, r["source_lines"])), (r["copy_path"], *map(int, r["copy_lines"]))))
            except (ValueError, KeyError, TypeError) as e:
                raise ScoreError(f"{path}:{number} is not a passage record ({e}) - regenerate the dump") from None
    return runs


def predicted_passages(db_path: str | Path) -> list[tuple[Span, Span]]:
    """The passages of a dedup database (table ``passages``): (source span, copy span)."""
    db = sqlite3.connect(f"file:{Path(db_path)}?mode=ro", uri=True)
    try:
        return [
            ((sp, s1, s2), (cp, c1, c2))
            for sp, s1, s2, cp, c1, c2 in db.execute(
                """SELECT sd.path, ps.source_line_start, ps.source_line_end, cd.path, ps.copy_line_start, ps.copy_line_end
                   FROM passages ps JOIN documents sd ON sd.id = ps.source_doc_id JOIN documents cd ON cd.id = ps.copy_doc_id"""
            )
        ]
    except sqlite3.DatabaseError as e:
        raise ScoreError(f"{db_path} holds no passages ({e}) - scan the dump with this dedup") from None
    finally:
        db.close()


def _run_groups(runs: list[tuple[Span, Span]]) -> tuple[list[Span], list[int]]:
    """Every side of every true run and the group it is in: the two sides of a run are one
    group, and so are sides in one document that overlap (a run pasted from a pasted run), so
    that a detector linking a copy to the original of its source is right."""
    spans = [side for run in runs for side in run]
    parent = list(range(len(spans)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: int, b: int) -> None:
        parent[find(a)] = find(b)

    for k in range(len(runs)):
        union(2 * k, 2 * k + 1)
    by_path: dict[str, list[int]] = {}
    for k, (path, _, _) in enumerate(spans):
        by_path.setdefault(path, []).append(k)
    for ks in by_path.values():
        ks.sort(key=lambda k: spans[k][1])
        reach, owner = -1, -1
        for k in ks:
            if spans[k][1] <= reach:
                union(k, owner)
            if spans[k][2] > reach:
                reach, owner = spans[k][2], k
    return spans, [find(k) for k in range(len(spans))]


def _covered(side: Span, by_path: dict[str, list[int]], spans: list[Span], groups: list[int]) -> dict[int, int]:
    """Lines of ``side`` inside the true sides of each group (in the same document)."""
    path, first, last = side
    lines: dict[int, set[int]] = {}
    for k in by_path.get(path, ()):
        _, a, b = spans[k]
        if a <= last and first <= b:
            lines.setdefault(groups[k], set()).update(range(max(a, first), min(b, last) + 1))
    return {g: len(ls) for g, ls in lines.items()}


def _shares_text(source: Span, copy: Span, lines: Mapping[Key, TruthRecord]) -> bool:
    """Do the two sides hold the same text: at least two lines each, and at least half of the
    lines of each side, whose source (the truth's) is also on the other side?"""
    sides = [[lines[(path, n)].source for n in range(first, last + 1) if (path, n) in lines] for path, first, last in (source, copy)]
    held = [set(side) for side in sides]
    for side, other in ((sides[0], held[1]), (sides[1], held[0])):
        shared = sum(src in other for src in side)
        if shared < 2 or shared < len(side) / 2:
            return False
    return True


def passage_scores(
    truth: list[tuple[Span, Span]], predicted: list[tuple[Span, Span]], lines: Mapping[Key, TruthRecord] | None = None
) -> dict[str, float]:
    """Precision and recall of predicted passages against the copied runs of the truth.

    A predicted passage is right for the runs (``run_precision``) when both its sides lie, at
    least half of their lines each, in the sides of one group of true runs (see
    ``_run_groups``): it links two copies of the same pasted section. A true run is found
    (``passage_recall``) when a passage right for it covers at least half of the lines of its
    copy side.

    ``passage_precision`` also counts as right a passage that the line truth ``lines`` (of
    truth.jsonl) shows to hold the same text on both sides (``_shares_text``): paragraphs
    copied one by one that happen to follow each other in the same order in both documents are
    such a run too (the first documents of a dump, with few originals to pick from, have many).
    Without ``lines`` the two precisions are the same.
    """
    spans, groups = _run_groups(truth)
    by_path: dict[str, list[int]] = {}
    for k, (path, _, _) in enumerate(spans):
        by_path.setdefault(path, []).append(k)
    right_sides: dict[int, list[Span]] = {}
    right = right_by_lines = 0
    for source, copy in predicted:
        half = lambda side: (side[2] - side[1] + 1) / 2  # noqa: E731
        a, b = _covered(source, by_path, spans, groups), _covered(copy, by_path, spans, groups)
        shared = [g for g in a if a[g] >= half(source) and b.get(g, 0) >= half(copy)]
        if shared:
            right += 1
            for g in shared:
                right_sides.setdefault(g, []).extend((source, copy))
        elif lines is not None and _shares_text(source, copy, lines):
            right_by_lines += 1
    found = 0
    for k in range(1, len(spans), 2):  # the copy side of every true run
        path, first, last = spans[k]
        need = (last - first + 1) / 2
        found += any(
            p == path and min(b, last) - max(a, first) + 1 >= need for p, a, b in right_sides.get(groups[k], ())
        )
    precision = (right + right_by_lines) / len(predicted) if predicted else 1.0
    recall = found / len(truth) if truth else 1.0
    return {
        "run_precision": right / len(predicted) if predicted else 1.0,
        "passage_precision": precision,
        "passage_recall": recall,
        "passage_f1": _f1(precision, recall),
        "true_passages": len(truth),
        "predicted_passages": len(predicted),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.score",
        description="Score the clusters of a dedup database against a dump's truth.",
    )
    parser.add_argument("--truth", required=True, metavar="FILE", help="truth.jsonl written by bench.generate")
    parser.add_argument(
        "--db", required=True, metavar="FILE", help="dedup database of a scan of the dump's docs folder"
    )
    args = parser.parse_args(argv)
    try:
        result = score(args.truth, predicted_from_db(args.db))
    except ScoreError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
