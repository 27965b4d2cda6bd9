"""Clustering: components equal brute force; clusters never drift from their canonical."""

import itertools

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from dedup.cluster import cluster_keys, components


def brute_components(n, edges):
    adjacency = {i: set() for i in range(n)}
    for a, b in edges:
        adjacency[a].add(b)
        adjacency[b].add(a)
    label, seen = {}, set()
    for start in range(n):
        if start in seen:
            continue
        stack, group = [start], set()
        while stack:
            x = stack.pop()
            if x in group:
                continue
            group.add(x)
            stack.extend(adjacency[x] - group)
        seen |= group
        for x in group:
            label[x] = min(group)
    return [label[i] for i in range(n)]


graphs = st.integers(1, 25).flatmap(
    lambda n: st.tuples(st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=40))
)


@given(graphs)
def test_components_equal_brute_force(graph):
    n, edges = graph
    a = np.array([e[0] for e in edges], dtype=np.int64)
    b = np.array([e[1] for e in edges], dtype=np.int64)
    got = components(n, a, b).tolist()
    expected = brute_components(n, edges)
    # same partition, whatever the label values
    for i, j in itertools.combinations(range(n), 2):
        assert (got[i] == got[j]) == (expected[i] == expected[j])


points = st.lists(st.floats(0, 10, allow_nan=False), min_size=2, max_size=20)


@given(points, st.floats(0.5, 3))
def test_every_member_is_within_reach_of_its_canonical(xs, radius):
    """Keys on a line, similar when closer than radius: chains must not drift."""
    n = len(xs)
    pos = np.array(xs)
    close = lambda i, j: abs(pos[i] - pos[j]) <= radius  # noqa: E731
    edges = np.array([(i, j) for i, j in itertools.combinations(range(n), 2) if close(i, j)], dtype=np.int64).reshape(-1, 2)
    def match(a, b):
        sim = np.where(np.abs(pos[a] - pos[b]) <= radius, 1.0, 0.0)
        return sim >= 0.5, sim, sim

    kc = cluster_keys(n, edges, np.arange(n), match)
    for k in range(n):
        c = kc.canonical[k]
        if c >= 0:
            assert close(k, c)
            assert kc.canonical[c] == c
    # a canonical is the best-ranked key of its cluster
    for c in set(kc.canonical.tolist()) - {-1}:
        members = np.nonzero(kc.canonical == c)[0]
        assert c == members.min()
    # every key that has a neighbour ends in some cluster unless all its neighbours were taken
    # by canonicals it is not close to; no key with no edge is clustered
    degree = np.zeros(n, dtype=int)
    for i, j in edges.tolist():
        degree[i] += 1
        degree[j] += 1
    assert (kc.canonical[degree == 0] == -1).all()


def test_chain_is_cut_at_the_canonical():
    # 0 ~ 1 ~ 2 but 0 !~ 2; key 1 ranks best: everything joins 1
    sims = {(0, 1): 0.9, (1, 2): 0.9, (0, 2): 0.5}

    def match(a, b):
        sim = np.array([sims.get((min(x, y), max(x, y)), 1.0) for x, y in zip(a, b)])
        return sim >= 0.8, sim, sim

    edges = np.array([[0, 1], [1, 2]])
    kc = cluster_keys(3, edges, np.array([1, 0, 2]), match)
    assert kc.canonical.tolist() == [1, 1, 1]
    # key 0 ranks best: 0 takes 1, and 2 (0.5 from 0) is left out on its own
    kc = cluster_keys(3, edges, np.array([0, 1, 2]), match)
    assert kc.canonical.tolist() == [0, 0, -1]
    assert kc.similarity.tolist()[:2] == [1.0, 0.9]
