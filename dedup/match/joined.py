"""Broken lines: two neighbouring paragraphs that together are a copy of a third key.

A page that copies a paragraph often breaks it over two lines (a narrow column, a PDF, an
editor's line break mid-sentence), and a half is a poor match of its source on its own: a
half of 10-40 shingles often shares no anchor with its source and its Jaccard is far under
the threshold (``lsh.py``), and a half that also got an inserted sentence or an edit keeps
only 30-90% of itself inside the source, under the containment rule (``verify.MatchRule``).
Joining the lines when splitting loses truncated copies instead (a truncated paragraph
followed by the next looks just like a broken line, ``text/paragraphs.py``), so the halves
stay apart and are judged together here:

1. ``neighbour_pairs``: the keys of every two consecutive paragraphs of a document.
2. ``joined_triples``: for each such pair (A, B), every key O that a candidate pair of A or
   of B proposed and that holds at least ``JOINED_HALF_SHARE`` of that half; so a half with
   no candidate of its own is tried against its neighbour's.
3. ``judge_joined``: the union A | B is scored against O from the three pairs' exact
   intersections, |(A | B) & O| >= |A & O| + |B & O| - |A & B| (a lower bound: exact when
   the halves share no shingle), and the match rule judges the union against O, as a near
   copy or as a partial copy inside O (never O inside the union: two lines that each
   resemble O hold it together). When it passes, each half holds at least
   ``JOINED_HALF_SHARE`` of its own shingles inside O, and the halves share at most
   ``JOINED_MAX_OVERLAP`` of the smaller (two pieces of one text, not two versions of it),
   both halves are copies of O (edges A-O and B-O), unless a half already has a copy of its
   own: a key is one text wherever it stands, and on Debian's copyright files a GPL notice
   with hundreds of copies, followed on one page by a line that completed it into another
   wording, went to that wording and left its copies (5,096 pairs apart in ``bench debian``).

``with_joined`` makes the clustering's match function accept those pairs too, so a half is
still judged against its canonical (no drift): it stays with O only when O is the canonical.
Every function is pure and order-free (sorted, distinct outputs): the engines give the same
edges whatever order they number paragraphs in.

On the generated benchmark (``python -m bench quality``, seed 2) 144 of the 167 halves of broken
lines missed before pass this rule against their source (``python -m bench misses``).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..config import JOINED_HALF_SHARE, JOINED_MAX_OVERLAP
from .distinct import distinct

ScoreFn = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def neighbour_pairs(para_node: np.ndarray, para_doc: np.ndarray) -> np.ndarray:
    """Distinct (first, second) nodes of every two consecutive paragraphs of one document,
    shape (m, 2), sorted; paragraphs are in corpus order, ``para_node`` -1 for one outside
    the graph (an empty or unsigned key), which breaks the chain. A paragraph followed by
    one of the same key is no broken line.

    >>> neighbour_pairs(np.array([4, 2, -1, 3, 3, 5, 4, 2]), np.array([1, 1, 1, 1, 1, 1, 2, 2])).tolist()
    [[3, 5], [4, 2]]
    """
    node, doc = np.asarray(para_node, dtype=np.int64), np.asarray(para_doc)
    if len(node) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    ok = (doc[1:] == doc[:-1]) & (node[1:] >= 0) & (node[:-1] >= 0) & (node[1:] != node[:-1])
    return unique_rows(np.stack([node[:-1][ok], node[1:][ok]], axis=1))


def unique_rows(rows: np.ndarray) -> np.ndarray:
    """The distinct rows of an int64 array, sorted (``np.unique(axis=0)`` without its slow
    structured sort).

    >>> unique_rows(np.array([[2, 1], [0, 5], [2, 1]])).tolist()
    [[0, 5], [2, 1]]
    """
    if not len(rows):
        return rows.reshape(0, rows.shape[1] if rows.ndim == 2 else 0).astype(np.int64)
    rows = rows[np.lexsort(rows.T[::-1])]
    keep = np.r_[True, (rows[1:] != rows[:-1]).any(axis=1)]
    return rows[keep]


def _share_of(node: np.ndarray, other: np.ndarray, con: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The share of ``node``'s shingles inside ``other``, from the pair's containment (which
    is the intersection over the smaller set)."""
    inter = con * np.minimum(sizes[node], sizes[other])
    return inter / np.maximum(sizes[node], 1)


def joined_triples(neighbours: np.ndarray, pairs: np.ndarray, containment: np.ndarray, sizes: np.ndarray,
                   half_share: float = JOINED_HALF_SHARE) -> np.ndarray:
    """(first, second, other) for every neighbour pair and every candidate partner ``other``
    of one of its halves that holds at least ``half_share`` of that half, shape (t, 3),
    distinct and sorted. ``pairs`` are the scored candidate pairs, ``containment`` theirs.

    >>> joined_triples(np.array([[0, 1]]), np.array([[1, 2], [0, 3], [1, 4]]), np.array([1.0, 0.2, 0.9]), np.array([10, 10, 30, 30, 30])).tolist()
    [[0, 1, 2], [0, 1, 4]]
    """
    if not len(neighbours) or not len(pairs):
        return np.zeros((0, 3), dtype=np.int64)
    a, b = pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)
    x, y = np.concatenate((a, b)), np.concatenate((b, a))  # half x, partner y
    keep = _share_of(x, y, np.concatenate((containment, containment)), sizes) >= half_share - 1e-12
    x, y = x[keep], y[keep]
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    found = []
    for side in (0, 1):
        half = neighbours[:, side].astype(np.int64)
        lo, hi = np.searchsorted(x, half, "left"), np.searchsorted(x, half, "right")
        count = hi - lo
        which = np.repeat(np.arange(len(half)), count)
        at = np.repeat(lo, count) + np.arange(len(which)) - np.repeat(np.cumsum(count) - count, count)
        found.append(np.column_stack((neighbours[which], y[at])))
    triples = np.concatenate(found).astype(np.int64)
    triples = triples[(triples[:, 2] != triples[:, 0]) & (triples[:, 2] != triples[:, 1])]
    return unique_rows(triples)


def judge_joined(rule, score: ScoreFn, sizes: np.ndarray, triples: np.ndarray, matched: np.ndarray | None = None,
                 half_share: float = JOINED_HALF_SHARE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pairs (half, other) that the joined rule makes copies (see the module docstring),
    shape (m, 2) with half < other swapped into (lower, higher) order, distinct and sorted,
    with each pair's own Jaccard and containment. ``score(a, b)`` gives the exact (Jaccard,
    containment) of node pairs; ``rule`` is the scan's ``verify.MatchRule``. A half that
    ``matched`` says has a copy of its own (an edge of the match rule) gets no joined pair:
    it is a text of its own, not a piece (a key is the same text in every document, and one
    page where it happens to precede a fitting line must not take it from its copies).
    The three steps (``worth_judging``, ``judge_triples``, ``accepted_pairs``) are shared
    with the appends' incremental path (engines/joined_live.py).
    """
    matched = np.zeros(len(sizes), dtype=bool) if matched is None else matched
    triples = np.asarray(triples, dtype=np.int64).reshape(-1, 3)
    triples = triples[worth_judging(rule, sizes, triples, matched)]
    ok, jac, con = judge_triples(rule, score, sizes, triples, half_share)
    pairs, at = accepted_pairs(triples[ok], matched, len(sizes))
    t = int(ok.sum())
    side_jac = np.concatenate((jac[ok, 0], jac[ok, 1])) if t else np.zeros(0)
    side_con = np.concatenate((con[ok, 0], con[ok, 1])) if t else np.zeros(0)
    return pairs, side_jac[at], side_con[at]


def worth_judging(rule, sizes: np.ndarray, triples: np.ndarray, matched: np.ndarray) -> np.ndarray:
    """Which triples are worth scoring: a half could take a pair (not both have a copy of
    their own), and O is large enough for the union to be a near copy of it (|O| >=
    threshold |A | B|) or to lie inside it (|O| >= |A | B|)."""
    if not len(triples):
        return np.zeros(0, dtype=bool)
    a, b, o = sizes[triples[:, 0]], sizes[triples[:, 1]], sizes[triples[:, 2]]
    return ~(matched[triples[:, 0]] & matched[triples[:, 1]]) & (o >= rule.threshold * np.maximum(a, b) - 1e-9)


def judge_triples(rule, score: ScoreFn, sizes: np.ndarray, triples: np.ndarray,
                  half_share: float = JOINED_HALF_SHARE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which triples (A, B, O) pass the joined rule, whoever has a copy of their own: (ok,
    shape (t,), the (Jaccard, containment) of A-O and B-O, each shape (t, 2)). A pure function
    of the triple: the union A | B judged against O from the three pairs' exact scores."""
    t = len(triples)
    if not t:
        return np.zeros(0, dtype=bool), np.zeros((0, 2)), np.zeros((0, 2))
    first, second, other = triples[:, 0], triples[:, 1], triples[:, 2]
    lefts, rights = np.concatenate((first, second, first)), np.concatenate((other, other, second))
    jac, con = _scored_once(score, lefts, rights, len(sizes))
    inter = con * np.minimum(sizes[lefts], sizes[rights])
    i_first, i_second, i_halves = inter[:t], inter[t : 2 * t], inter[2 * t :]
    union = sizes[first] + sizes[second] - i_halves
    shared = np.maximum(i_first + i_second - i_halves, 0)
    size_o = sizes[other]
    u_jac = shared / np.maximum(union + size_o - shared, 1)
    u_con = shared / np.maximum(np.minimum(union, size_o), 1)
    # the union is a near copy of O, or a partial copy inside it (never O inside the union:
    # two lines each like O would always hold it)
    ok = rule.judge(u_jac, u_con, union, size_o) & ((union <= size_o) | (u_jac >= rule.threshold - 1e-12))
    ok &= i_halves <= JOINED_MAX_OVERLAP * np.minimum(sizes[first], sizes[second])  # two pieces, not two versions
    ok &= (i_first / sizes[first] >= half_share - 1e-12) & (i_second / sizes[second] >= half_share - 1e-12)
    return np.asarray(ok, dtype=bool), np.stack((jac[:t], jac[t : 2 * t]), axis=1), np.stack((con[:t], con[t : 2 * t]), axis=1)


def accepted_pairs(ok_triples: np.ndarray, matched: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The pairs the triples that passed (``judge_triples``) make copies: each half that has
    no copy of its own with O, as (lower, higher), distinct and sorted, shape (m, 2); and where
    each came from in ``(A-O of every triple, then B-O of every triple)``.

    >>> pairs, at = accepted_pairs(np.array([[0, 1, 2], [3, 1, 2]]), np.array([False, False, False, True]), 4)
    >>> pairs.tolist(), at.tolist()
    ([[0, 2], [1, 2]], [0, 2])
    """
    t = np.asarray(ok_triples, dtype=np.int64).reshape(-1, 3)
    halves, others = np.concatenate((t[:, 0], t[:, 1])), np.concatenate((t[:, 2], t[:, 2]))
    keep = np.nonzero(~matched[halves])[0]
    lo, hi = np.minimum(halves[keep], others[keep]), np.maximum(halves[keep], others[keep])
    _, first_at = np.unique(lo * (int(n) + 1) + hi, return_index=True)
    return np.stack([lo[first_at], hi[first_at]], axis=1).reshape(-1, 2), keep[first_at]


def _scored_once(score: ScoreFn, a: np.ndarray, b: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``score(a, b)`` with every distinct pair scored once (a pair of halves recurs in every
    triple of theirs), in (lower, higher) order."""
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    codes, back = np.unique(lo * n + hi, return_inverse=True)
    jac, con = score(codes // n, codes % n)
    return np.asarray(jac)[back], np.asarray(con)[back]


def joined_edges(rule, score: ScoreFn, sizes: np.ndarray, para_node: np.ndarray, para_doc: np.ndarray,
                 pairs: np.ndarray, containment: np.ndarray, edges: np.ndarray,
                 neighbours: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps 1-3 of the module docstring: the (half, other) pairs the joined rule accepts,
    with their own Jaccard and containment (``judge_joined``), for halves in none of the
    match rule's ``edges``; none when the rule makes no partial copies (``--containment 0``).
    ``neighbours``: ``neighbour_pairs(para_node, para_doc)`` when the caller keeps them."""
    if rule.containment <= 0:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0), np.zeros(0)
    if neighbours is None:
        neighbours = neighbour_pairs(para_node, para_doc)
    triples = joined_triples(neighbours, pairs, containment, sizes)
    return judge_joined(rule, score, sizes, triples, has_edge(len(sizes), edges))


def has_edge(n: int, edges: np.ndarray) -> np.ndarray:
    """Which of n nodes are in one of ``edges``."""
    out = np.zeros(n, dtype=bool)
    out[np.asarray(edges, dtype=np.int64).ravel()] = True
    return out


def add_joined(rule, score: ScoreFn, sizes: np.ndarray, para_node: np.ndarray, para_doc: np.ndarray,
               pairs: np.ndarray, containment: np.ndarray, edges: np.ndarray, edge_jaccard: np.ndarray, match):
    """What an engine calls after verifying its candidate ``pairs`` (with their ``containment``)
    into ``edges``: (edges with the joined ones, their Jaccard, ``match`` accepting the joined
    pairs, the joined pairs). Nodes are the positions of the signed keys; ``para_node`` and
    ``para_doc`` give every paragraph's node (-1: none) and document, in corpus order."""
    joined, joined_jac, _ = joined_edges(rule, score, sizes, para_node, para_doc, pairs, containment, edges)
    n = len(sizes)
    edges, edge_jaccard = merge_edges(edges, edge_jaccard, joined, joined_jac, n)
    return edges, edge_jaccard, with_joined(match, joined, n), joined


def merge_edges(edges: np.ndarray, jaccard: np.ndarray, extra: np.ndarray, extra_jaccard: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The edges with the joined ones added (those not already edges), sorted by pair.

    >>> e, j = merge_edges(np.array([[0, 2]]), np.array([0.9]), np.array([[0, 1], [0, 2]]), np.array([0.3, 0.9]), 3)
    >>> e.tolist(), j.tolist()
    ([[0, 1], [0, 2]], [0.3, 0.9])
    """
    all_edges = np.concatenate((np.asarray(edges, dtype=np.int64).reshape(-1, 2), np.asarray(extra, dtype=np.int64).reshape(-1, 2)))
    all_jac = np.concatenate((np.asarray(jaccard, dtype=float), np.asarray(extra_jaccard, dtype=float)))
    _, at = np.unique(all_edges[:, 0] * n + all_edges[:, 1], return_index=True)
    return all_edges[at], all_jac[at]


def with_joined(match, joined: np.ndarray, n: int):
    """``match(a, b)`` that also accepts the joined pairs (``judge_joined``), either way round."""
    codes = distinct(np.asarray(joined, dtype=np.int64).reshape(-1, 2) @ np.array([n, 1], dtype=np.int64)) if len(joined) else np.zeros(0, np.int64)

    def joined_match(a: np.ndarray, b: np.ndarray):
        ok, jac, con = match(a, b)
        if len(codes) and len(a):
            a64, b64 = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
            code = np.minimum(a64, b64) * n + np.maximum(a64, b64)
            at = np.minimum(np.searchsorted(codes, code), len(codes) - 1)
            ok = np.asarray(ok) | (codes[at] == code)
        return ok, jac, con

    return joined_match
