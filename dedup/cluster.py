"""Clusters from verified edges, each a canonical and the copies verified against it.

Connected components alone drift: A~B and B~C put A and C together however different they are.
So a cluster is built in rounds: take the connected components of the verified edges among the
keys still unassigned; in each component pick the canonical (the best-ranked key by the canonical
policy); keep the members that match *the canonical* (exact Jaccard at the threshold, or
containment for a partial copy); the
members that fail go back into the pool, with the edges among them, for the next round. Every
round settles at least the canonical and one neighbour of each component (a neighbour's edge
to the canonical is itself verified), so the rounds end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import compiled

# A key under this share of a longer key it is contained in is a fragment of it (see fragments).
FRAGMENT_SHARE = 0.5

MatchFn = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class KeyClusters:
    """Per key: the canonical key of its cluster (or -1), and its Jaccard and containment to it."""

    canonical: np.ndarray
    similarity: np.ndarray
    containment: np.ndarray


def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected component label of each of n nodes given undirected edges (a[i], b[i]).

    >>> components(5, np.array([0, 3]), np.array([1, 4])).tolist()
    [0, 0, 1, 2, 2]

    Components are numbered in the order of their smallest node, on the compiled core (a
    union-find) or by scipy's ``connected_components``, which numbers them the same way.
    """
    if compiled.available():
        return compiled.components(n, a, b)
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return labels


def fragments(n: int, edges: np.ndarray, jaccard: np.ndarray, sizes: np.ndarray, threshold: float) -> np.ndarray:
    """Which keys are fragments: the smaller side of an edge that only containment made, when
    it holds less than ``FRAGMENT_SHARE`` of the larger side's shingles.

    A line broken mid-sentence, or a short excerpt, may come first in corpus order; as the
    canonical it would make the whole paragraph a "partial copy" of its own piece and leave the
    whole's near copies out. So fragments are never canonical while their group has a whole one.
    A paragraph that is most of a longer one is no fragment: it is as often the source that a
    later copy added a sentence to as a truncated copy, and there the policy's order decides.

    >>> fragments(3, np.array([[0, 1], [1, 2]]), np.array([0.2, 0.9]), np.array([10, 50, 48]), 0.6).tolist()
    [True, False, False]
    >>> fragments(2, np.array([[0, 1]]), np.array([0.5]), np.array([40, 50]), 0.6).tolist()
    [False, False]
    """
    out = np.zeros(n, dtype=bool)
    partial = jaccard < threshold - 1e-12
    a, b = edges[partial, 0], edges[partial, 1]
    piece = np.minimum(sizes[a], sizes[b]) < FRAGMENT_SHARE * np.maximum(sizes[a], sizes[b])
    out[np.where(sizes[a] <= sizes[b], a, b)[piece]] = True
    return out


def cluster_keys(n: int, edges: np.ndarray, rank: np.ndarray, match: MatchFn) -> KeyClusters:
    """Assign keys to canonicals without drift (see the module docstring).

    ``rank[k]`` orders keys for the canonical policy: the lowest rank in a group is its canonical.
    ``match(a, b)`` says which key pairs are copies, with their Jaccard and containment; every
    edge given must be a match.
    """
    canonical = np.full(n, -1, dtype=np.int64)
    sim_to_canonical = np.zeros(n)
    con_to_canonical = np.zeros(n)
    a, b = edges[:, 0].astype(np.int64), edges[:, 1].astype(np.int64)
    while len(a):
        labels = components(n, a, b)
        nodes = np.unique(np.concatenate((a, b)))
        node_labels = labels[nodes]
        # canonical of each component: the node with the lowest rank
        order = np.lexsort((rank[nodes], node_labels))
        sorted_labels = node_labels[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = sorted_labels[1:] != sorted_labels[:-1]
        head_of_label = np.empty(int(labels.max()) + 1, dtype=np.int64)
        head_of_label[sorted_labels[first]] = nodes[order][first]
        heads = head_of_label[node_labels]
        members = nodes != heads
        ok, sims, cons = match(nodes[members], heads[members])
        accepted = nodes[members][ok]
        canonical[accepted] = heads[members][ok]
        sim_to_canonical[accepted] = sims[ok]
        con_to_canonical[accepted] = cons[ok]
        settled_heads = np.unique(heads[members][ok])
        canonical[settled_heads] = settled_heads
        sim_to_canonical[settled_heads] = 1.0
        con_to_canonical[settled_heads] = 1.0
        settled = canonical >= 0
        keep = ~settled[a] & ~settled[b]
        a, b = a[keep], b[keep]
    return KeyClusters(canonical, sim_to_canonical, con_to_canonical)
