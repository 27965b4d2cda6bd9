"""The joined rule (match/joined.py) kept up to date across appends: only the triples the new
documents touch are judged, not every triple of the corpus at every write.

The joined rule is not local to the new keys, but its pieces are. A triple (A, B, O) exists
when (A, B) is a neighbour pair and O a candidate partner of A or B holding enough of that half
(``joined_triples``); whether it passes is a pure function of the three keys (their sizes and
the scores of A-O, B-O and A-B, which never change: ``judge_triples``); and a half of a passing
triple is a copy of O unless it has a copy of its own (``accepted_pairs``). So an append changes
the joined pairs only through:

* a new neighbour pair (in a new document): all its triples;
* a new or a lost candidate pair (x, y): the triples (x, B, y), (A, x, y) of the neighbour pairs
  of x, and the same for y;
* a key that gained or lost a copy of its own (an edge of the match rule): which of its pairs
  are accepted, and, when it lost one, the triples it had not been judged in (a triple whose
  halves both had a copy is never scored, as in the full scan).

``LiveJoined`` keeps the passing triples, the partners of every key and the neighbour pairs,
and judges again exactly the triples above; ``tests/engines/test_delta.py`` compares appends
with full scans of the same documents.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from ..config import JOINED_HALF_SHARE
from ..match.joined import ScoreFn, accepted_pairs, has_edge, joined_triples, judge_triples, unique_rows, worth_judging


class Adjacency:
    """node -> the nodes it links to: sorted base arrays, plus links added and removed since."""

    def __init__(self, x: np.ndarray, y: np.ndarray):
        x, y = np.asarray(x, dtype=np.int64), np.asarray(y, dtype=np.int64)
        order = np.lexsort((y, x))
        self.x, self.y = x[order], y[order]
        self.more: dict[int, set[int]] = {}
        self.gone: set[tuple[int, int]] = set()

    def of(self, node: int) -> list[int]:
        lo, hi = np.searchsorted(self.x, [node, node + 1])
        out = self.y[lo:hi].tolist()
        if self.gone:
            out = [y for y in out if (node, y) not in self.gone]
        return out + sorted(self.more.get(node, ()))

    def has(self, x: int, y: int) -> bool:
        if y in self.more.get(x, ()):
            return True
        lo, hi = np.searchsorted(self.x, [x, x + 1])
        at = lo + int(np.searchsorted(self.y[lo:hi], y))
        return at < hi and self.y[at] == y and (x, y) not in self.gone

    def add(self, x: int, y: int) -> None:
        self.gone.discard((x, y))
        if not self.has(x, y):
            self.more.setdefault(x, set()).add(y)

    def remove(self, x: int, y: int) -> None:
        extra = self.more.get(x)
        if extra is not None and y in extra:
            extra.discard(y)
        else:
            self.gone.add((x, y))


def share_mask(a: np.ndarray, b: np.ndarray, containment: np.ndarray, sizes: np.ndarray, half_share: float = JOINED_HALF_SHARE) -> np.ndarray:
    """Does key ``a`` hold at least ``half_share`` of itself inside ``b`` (a candidate pair's
    containment is its intersection over the smaller set)? As ``joined_triples`` asks."""
    inter = containment * np.minimum(sizes[a], sizes[b])
    return inter / np.maximum(sizes[a], 1) >= half_share - 1e-12


class LiveJoined:
    """The joined rule's state of a live corpus (see the module): the passing triples, how many
    support each (half, other) pair, the partners of each key, the neighbour pairs, and which
    keys have a copy of their own. Nodes are signed key positions."""

    def __init__(self, rule, neighbours: np.ndarray, pairs: np.ndarray, containment: np.ndarray, sizes: np.ndarray, edges: np.ndarray):
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        a, b = pairs[:, 0], pairs[:, 1]
        x, y, con = np.concatenate((a, b)), np.concatenate((b, a)), np.concatenate((containment, containment))
        keep = share_mask(x, y, con, sizes)
        self.rule = rule
        self.partners = Adjacency(x[keep], y[keep])
        neighbours = np.asarray(neighbours, dtype=np.int64).reshape(-1, 2)
        self.after, self.before = Adjacency(neighbours[:, 0], neighbours[:, 1]), Adjacency(neighbours[:, 1], neighbours[:, 0])
        self.matched = has_edge(len(sizes), edges)
        self.passing: set[tuple[int, int, int]] = set()
        self.support: Counter = Counter()  # (half, other) -> passing triples with that half
        self.codes = np.zeros(0, np.int64)  # the accepted pairs, codes lower << 32 | higher, sorted
        self._triples = joined_triples(neighbours, pairs, containment, sizes)

    def start(self, score: ScoreFn, sizes: np.ndarray) -> np.ndarray:
        """Judge every triple (the full scan's path, once, when the corpus is loaded); returns
        the accepted pairs (m, 2)."""
        self._judge(self._triples, score, sizes, known=True)
        self._triples = None
        pairs = self.accepted()
        self.codes = codes_of(pairs)
        return pairs

    def update(self, score: ScoreFn, sizes: np.ndarray, new_neighbours: np.ndarray, new_pairs: np.ndarray, new_containment: np.ndarray,
               lost_pairs: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bring the state up to an append: its new neighbour pairs, its new candidate pairs
        (with their containment), the candidate pairs it lost, and the match rule's edges now.
        Returns (the accepted pairs (m, 2), the nodes whose accepted pairs changed)."""
        n = len(sizes)
        matched = has_edge(n, edges)
        was = np.zeros(n, dtype=bool)
        was[: len(self.matched)] = self.matched
        self.matched = matched
        triples = [self._new_neighbours(new_neighbours)]
        triples.append(self._new_partners(new_pairs, new_containment, sizes, add=True))
        triples.append(self._new_partners(lost_pairs, np.ones(len(lost_pairs)), sizes, add=False))
        for node in np.nonzero(was & ~matched)[0].tolist():  # lost its own copy: judged where it never was
            triples.append(self._triples_of(node))
        self._judge(np.concatenate(triples).reshape(-1, 3), score, sizes)
        pairs = self.accepted()
        codes = codes_of(pairs)
        moved = np.setxor1d(self.codes, codes)
        self.codes = codes
        return pairs, np.unique(np.concatenate((moved >> 32, moved & 0xFFFFFFFF)))

    def _new_neighbours(self, neighbours: np.ndarray) -> np.ndarray:
        """The triples of the neighbour pairs not known yet (which become known)."""
        out = []
        for a, b in np.asarray(neighbours, dtype=np.int64).reshape(-1, 2).tolist():
            if not self.after.has(a, b):
                self.after.add(a, b)
                self.before.add(b, a)
                out.extend((a, b, o) for o in set(self.partners.of(a)) | set(self.partners.of(b)))
        return np.array(out, dtype=np.int64).reshape(-1, 3)

    def _new_partners(self, pairs: np.ndarray, containment: np.ndarray, sizes: np.ndarray, add: bool) -> np.ndarray:
        """Add (or remove) candidate pairs from the partners; the triples they can change."""
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        x, y = np.concatenate((pairs[:, 0], pairs[:, 1])), np.concatenate((pairs[:, 1], pairs[:, 0]))
        if add:
            keep = share_mask(x, y, np.concatenate((containment, containment)), sizes)
            x, y = x[keep], y[keep]
        out = []
        for half, other in zip(x.tolist(), y.tolist()):
            if add:
                self.partners.add(half, other)
            else:
                self.partners.remove(half, other)
            out.extend((half, b, other) for b in self.after.of(half))
            out.extend((a, half, other) for a in self.before.of(half))
        return np.array(out, dtype=np.int64).reshape(-1, 3)

    def _triples_of(self, node: int) -> np.ndarray:
        """Every triple of the neighbour pairs that hold ``node``."""
        out = []
        for a, b in [(node, b) for b in self.after.of(node)] + [(a, node) for a in self.before.of(node)]:
            out.extend((a, b, o) for o in set(self.partners.of(a)) | set(self.partners.of(b)))
        return np.array(out, dtype=np.int64).reshape(-1, 3)

    def _judge(self, triples: np.ndarray, score: ScoreFn, sizes: np.ndarray, known: bool = False) -> None:
        """Judge ``triples`` again as they stand now: a triple passes when it exists (O a
        partner of a half, neither half O; ``known``: they all do), is worth scoring and passes
        ``judge_triples``."""
        if not len(triples):
            return
        triples = unique_rows(triples)
        if known:
            exists = np.ones(len(triples), dtype=bool)
        else:
            exists = np.fromiter((o != a and o != b and (self.partners.has(a, o) or self.partners.has(b, o)) for a, b, o in triples.tolist()),
                                 dtype=bool, count=len(triples))
        worth = exists & worth_judging(self.rule, sizes, triples, self.matched)
        ok = np.zeros(len(triples), dtype=bool)
        ok[worth] = judge_triples(self.rule, score, sizes, triples[worth])[0]
        was = np.fromiter((t in self.passing for t in map(tuple, triples.tolist())), dtype=bool, count=len(triples)) if self.passing else ok & False
        for triple, passes in zip(map(tuple, triples[ok != was].tolist()), ok[ok != was].tolist()):
            step = 1 if passes else -1
            (self.passing.add if passes else self.passing.discard)(triple)
            for half in triple[:2]:
                self.support[half, triple[2]] += step
                if not self.support[half, triple[2]]:
                    del self.support[half, triple[2]]

    def accepted(self) -> np.ndarray:
        """The pairs the passing triples make copies now (``accepted_pairs``), (m, 2) sorted."""
        if not self.support:
            return np.zeros((0, 2), np.int64)
        directed = np.array(list(self.support), dtype=np.int64).reshape(-1, 2)
        as_triples = np.stack((directed[:, 0], directed[:, 0], directed[:, 1]), axis=1)  # each half once
        return accepted_pairs(as_triples, self.matched, len(self.matched))[0]


def codes_of(pairs: np.ndarray) -> np.ndarray:
    """Pairs of nodes (lower, higher) as sorted codes lower << 32 | higher."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    return np.sort((pairs[:, 0] << 32) | pairs[:, 1])
