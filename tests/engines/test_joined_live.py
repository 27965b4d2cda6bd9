"""The joined rule kept across appends (engines/joined_live.py): after any sequence of new keys,
neighbour pairs, candidate pairs gained and lost and edges, the accepted pairs are those the
full scan's path (match/joined.py) finds from scratch."""

from __future__ import annotations

import random

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from helpers import derandomized
from dedup.config import ScanConfig
from dedup.engines.joined_live import LiveJoined, codes_of
from dedup.match.joined import has_edge, joined_triples, judge_joined

RULE = ScanConfig().match_rule()


def _sets(rng: random.Random, n: int) -> list[frozenset]:
    """Shingle sets of sources, halves of them (some with an inserted piece or an edit) and noise."""
    out: list[frozenset] = []
    while len(out) < n:
        kind = rng.random()
        if kind < 0.3 or not out:
            out.append(frozenset(rng.sample(range(400), rng.randint(20, 50))))
        elif kind < 0.8:  # the two halves of a broken copy of an earlier set
            source = sorted(rng.choice([s for s in out if len(s) >= 4]))
            cut = rng.randint(1, len(source) - 1)
            for half in (source[:cut], source[cut:]):
                extra = rng.sample(range(400, 500), rng.choice([0, 0, 1, 3]))
                out.append(frozenset(half + extra))
        else:
            out.append(frozenset(rng.sample(range(500), rng.randint(5, 30))))
    return out[:n]


class Corpus:
    """Nodes with exact scores, and the candidate pairs, neighbour pairs and edges of a sequence."""

    def __init__(self, sets: list[frozenset]):
        self.sets = sets
        self.sizes = np.array([len(s) for s in sets], dtype=np.int64)
        self.scored: set[tuple[int, int]] = set()

    def score(self, a: np.ndarray, b: np.ndarray):
        self.scored.update(zip(a.tolist(), b.tolist()))
        inter = np.array([len(self.sets[x] & self.sets[y]) for x, y in zip(a.tolist(), b.tolist())], dtype=float)
        sa, sb = self.sizes[a], self.sizes[b]
        return inter / np.maximum(sa + sb - inter, 1), inter / np.maximum(np.minimum(sa, sb), 1)

    def containment(self, pairs: np.ndarray) -> np.ndarray:
        return self.score(pairs[:, 0], pairs[:, 1])[1] if len(pairs) else np.zeros(0)


def _full(corpus: Corpus, n: int, neighbours: set, candidates: set, edges: set) -> np.ndarray:
    sizes = corpus.sizes[:n]
    nb = np.array(sorted(neighbours), dtype=np.int64).reshape(-1, 2)
    pairs = np.array(sorted(candidates), dtype=np.int64).reshape(-1, 2)
    triples = joined_triples(nb, pairs, corpus.containment(pairs), sizes)
    edge_array = np.array(sorted(edges), dtype=np.int64).reshape(-1, 2)
    return codes_of(judge_joined(RULE, corpus.score, sizes, triples, has_edge(n, edge_array))[0])


def _arrays(pairs) -> np.ndarray:
    return np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)


@given(st.integers(0, 10**6), st.integers(8, 30), st.integers(1, 6))
@derandomized(150)
def test_appends_judge_the_joined_rule_as_the_full_scan(seed, n_start, steps):
    rng = random.Random(seed)
    corpus = Corpus(_sets(rng, n_start + 8 * steps))

    def related(n: int, k: int, among: int = 0) -> set:
        """k random pairs (lower, higher) of nodes below n, with a node from ``among`` on."""
        out = set()
        for _ in range(k):
            b = rng.randrange(among, n)
            a = rng.randrange(n)
            if a != b and corpus.sets[a] & corpus.sets[b]:
                out.add((min(a, b), max(a, b)))
        return out

    n = n_start
    neighbours = {(i, i + 1) for i in range(n - 1) if rng.random() < 0.5}
    candidates = related(n, 3 * n)
    edges = {p for p in candidates if rng.random() < 0.3}
    pairs = _arrays(candidates)
    live = LiveJoined(RULE, _arrays(neighbours), pairs, corpus.containment(pairs), corpus.sizes[:n], _arrays(edges))
    assert codes_of(live.start(corpus.score, corpus.sizes[:n])).tolist() == _full(corpus, n, neighbours, candidates, edges).tolist()
    for _ in range(steps):
        first, n = n, n + rng.randint(1, 8)
        new_neighbours = {(i, i + 1) for i in range(first - 1, n - 1) if rng.random() < 0.7}
        if rng.random() < 0.3:  # an old pair of keys met as neighbours again: known already
            new_neighbours |= set(list(neighbours)[:1])
        new = related(n, 4 * (n - first), among=first) - candidates
        lost = {p for p in candidates if rng.random() < 0.1}
        candidates = (candidates - lost) | new
        edges = (edges - lost) | {p for p in new if rng.random() < 0.3}
        if edges and rng.random() < 0.3:  # the rule's edges follow candidates; any set will do here
            edges -= {rng.choice(sorted(edges))}
        neighbours |= new_neighbours
        new_pairs = _arrays(new)
        got, changed = live.update(corpus.score, corpus.sizes[:n], _arrays(new_neighbours), new_pairs, corpus.containment(new_pairs),
                                   _arrays(lost), _arrays(edges))
        expected = _full(corpus, n, neighbours, candidates, edges)
        assert codes_of(got).tolist() == expected.tolist()
        assert live.codes.tolist() == expected.tolist()


def test_a_lost_candidate_parts_the_halves_it_joined():
    """Two halves of a source joined through the candidates of the first half alone; the
    candidate is lost, and so are both joined pairs (the second half had no pair with O)."""
    source = frozenset(range(40))
    corpus = Corpus([frozenset(range(20)), frozenset(range(20, 40)), source])
    pairs = np.array([[0, 2]])
    live = LiveJoined(RULE, np.array([[0, 1]]), pairs, corpus.containment(pairs), corpus.sizes, np.zeros((0, 2), np.int64))
    assert live.start(corpus.score, corpus.sizes).tolist() == [[0, 2], [1, 2]]
    got, changed = live.update(corpus.score, corpus.sizes, np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0), pairs, np.zeros((0, 2)))
    assert got.tolist() == [] and changed.tolist() == [0, 1, 2]
