"""Clusters from verified edges, each a canonical and the copies verified against it.

Connected components alone drift: A~B and B~C put A and C together however different they are.
So a cluster is built in rounds: take the connected components of the verified edges among the
keys still unassigned; in each component pick the canonical (the best-ranked key by the canonical
policy); keep the members that match *the canonical* (exact Jaccard at the threshold, or
containment for a partial copy); the
members that fail go back into the pool, with the edges among them, for the next round. Every
round settles at least the canonical and one neighbour of each component (a neighbour's edge
to the canonical is itself verified), so the rounds end.

The rounds hand a key to the first canonical that matches it, which can part two copies of
one text. In Debian's copyright files, two copies of the GPL-2 notice, "This program is free
software; ... GNU General Public License ..." and its twin "... GNU Library General Public
License ..." (Jaccard 0.92), meet a long GPL-2+ stanza that ranks first and contains the
first (containment 0.92, Jaccard 0.31) but not the second (0.86), and "This package is free
software; ...", which both are near copies of (0.89, 0.82): the rounds give the first to the
stanza as a partial copy and the second to "This package".
So once the canonicals are known, every key that is not one goes to the cluster it is most
like (``follow_neighbours``): among the canonicals it matches (its own, those it has an
edge to, and its neighbours' canonicals) that rank before it, a canonical it is a near copy
of (Jaccard at the threshold) before one it is only a partial copy of, then the one where its
Jaccard to the canonical plus its Jaccard to each of its neighbours in the cluster is
highest. Keys go
in rank order, each seeing the moves before it; a canonical left without members is in no
cluster. Members are still verified against their canonical (no drift), the canonical still
ranks first in its cluster, and nothing leaves a connected component of the edges, so an
update that clusters only the components that changed, or an engine that clusters one
component at a time, gives the same result.

On those files (``python -m bench debian``: the share of the pairs of different paragraphs at
exact Jaccard >= 0.9 that share a cluster) the rounds alone keep 97.6% together with the
split of one mode per document that dedup had before, and 99.88% with today's; following the
neighbours, 98.7% and 99.92%. Rules that pick a canonical for each key on its own did worse
(with the old split): the most similar canonical, near copies before partial ones, 96.0%;
near copies first, then the better-ranked canonical, 97.4%; clustering the near copies
first and the partial copies after them, 95.9%. A twin just across a threshold picks another
canonical than its twin; following the neighbours keeps twins where most of their copies are.

Near copies come first since partial copies of 40 shingles or more need only 0.8 (verify.py):
the X11 permission notice, in a dozen wordings, is a near copy of fontconfig's and, at 0.80,
a partial copy of a long licence of cmake's that ranks first; by the sums alone the twins at
0.80 went with the licence and those at 0.79 with fontconfig's, 1,797 pairs apart on Debian's
files against 1,333 before the 0.8; near copies first, 996 (``python -m bench debian``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import compiled
from .distinct import distinct

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
    it holds less than ``FRAGMENT_SHARE`` of the larger side's shingles and the larger side
    has a match that the smaller has not.

    A line broken mid-sentence, or a short excerpt, may come first in corpus order; as the
    canonical it would make the whole paragraph a "partial copy" of its own piece and leave
    out what the whole matches beyond it (the other half of the line, near copies edited in
    the piece). So fragments are never canonical while their group has a whole one.
    A paragraph that is most of a longer one is no fragment: it is as often the source that a
    later copy added a sentence to as a truncated copy, and there the policy's order decides.
    Nor is a short paragraph whose longer copy matches nothing it does not: an original that
    one copy put a long sentence into (a reporter's credit, an aside) stays the canonical of
    its own copies. On the generated benchmark every such original lost its cluster to a later
    copy and split it in two (14 of the 254 copies missed there, bench/README.md).

    >>> fragments(3, np.array([[0, 1], [1, 2]]), np.array([0.2, 0.9]), np.array([10, 50, 48]), 0.6).tolist()
    [True, False, False]
    >>> fragments(3, np.array([[0, 1], [1, 2], [0, 2]]), np.array([0.2, 0.9, 0.7]), np.array([10, 50, 12]), 0.6).tolist()
    [False, False, False]
    >>> fragments(2, np.array([[0, 1]]), np.array([0.5]), np.array([40, 50]), 0.6).tolist()
    [False, False]
    """
    out = np.zeros(n, dtype=bool)
    a, b = edges[:, 0].astype(np.int64), edges[:, 1].astype(np.int64)
    partial = jaccard < threshold - 1e-12
    small = np.where(sizes[a] <= sizes[b], a, b)[partial]
    whole = np.where(sizes[a] <= sizes[b], b, a)[partial]
    piece = sizes[small] < FRAGMENT_SHARE * sizes[whole]
    small, whole = small[piece], whole[piece]
    if not len(small):
        return out
    # the whole's matches (CSR over both directions of every edge) that the piece lacks
    x, y = np.concatenate((a, b)), np.concatenate((b, a))
    order = np.argsort(x, kind="stable")
    starts = np.searchsorted(x[order], np.arange(n + 1))
    known = distinct(np.minimum(x, y) * n + np.maximum(x, y))
    degree = starts[whole + 1] - starts[whole]
    which = np.repeat(np.arange(len(small)), degree)
    offset = np.arange(len(which)) - np.repeat(np.cumsum(degree) - degree, degree)
    other = y[order][np.repeat(starts[whole], degree) + offset]
    s = small[which]
    code = np.minimum(s, other) * n + np.maximum(s, other)
    at = np.minimum(np.searchsorted(known, code), len(known) - 1)
    lacking = (other != s) & (known[at] != code)
    out[distinct(s[lacking])] = True
    return out


def cluster_keys(n: int, edges: np.ndarray, jaccard: np.ndarray, rank: np.ndarray, match: MatchFn, threshold: float | None = None) -> KeyClusters:
    """Assign keys to canonicals without drift (see the module docstring).

    ``jaccard[i]`` is the Jaccard of edge i. ``rank[k]`` orders keys for the canonical policy:
    the lowest rank in a group is its canonical. ``match(a, b)`` says which key pairs are
    copies, with their Jaccard and containment; every edge given must be a match. ``threshold``
    is the match rule's Jaccard threshold: every engine passes it (see follow_neighbours).
    """
    canonical = np.full(n, -1, dtype=np.int64)
    sim_to_canonical = np.zeros(n)
    con_to_canonical = np.zeros(n)
    a, b = edges[:, 0].astype(np.int64), edges[:, 1].astype(np.int64)
    while len(a):
        labels = components(n, a, b)
        nodes = distinct(np.concatenate((a, b)))
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
        settled_heads = distinct(heads[members][ok])
        canonical[settled_heads] = settled_heads
        sim_to_canonical[settled_heads] = 1.0
        con_to_canonical[settled_heads] = 1.0
        settled = canonical >= 0
        keep = ~settled[a] & ~settled[b]
        a, b = a[keep], b[keep]
    return follow_neighbours(edges, jaccard, rank, match, KeyClusters(canonical, sim_to_canonical, con_to_canonical), threshold)


def follow_neighbours(edges: np.ndarray, jaccard: np.ndarray, rank: np.ndarray, match: MatchFn, kc: KeyClusters, threshold: float | None = None) -> KeyClusters:
    """Move every key that is not a canonical to the cluster it is most like (see the module
    docstring): among the canonicals it matches, ranking before it, those it is a near copy of
    (Jaccard at ``threshold``; None: no such preference) first, then the highest Jaccard to
    the canonical plus Jaccard to the key's neighbours in its cluster.

    The example of the module docstring: keys 2 and 3 are twins (0.92); 0 ranks first and takes
    2 as a partial copy (0.31) but not 3, which goes to 1 (0.82). Key 2 is a near copy of 1 too
    (0.89): 0.89 + 0.92 beats 0.31, so it follows its twin, and 0 is left alone.

    >>> scores = {(0, 1): (False, 0.29, 0.86), (0, 2): (True, 0.31, 0.92), (0, 3): (False, 0.30, 0.86),
    ...           (1, 2): (True, 0.89, 0.94), (1, 3): (True, 0.82, 0.92), (2, 3): (True, 0.92, 0.98)}
    >>> def match(a, b):
    ...     ok, j, c = zip(*(scores[tuple(sorted(p))] for p in zip(a.tolist(), b.tolist())))
    ...     return np.array(ok), np.array(j), np.array(c)
    >>> edges = np.array([[0, 2], [1, 2], [1, 3], [2, 3]])
    >>> jac = np.array([0.31, 0.89, 0.82, 0.92])
    >>> cluster_keys(4, edges, jac, np.arange(4), match).canonical.tolist()
    [-1, 1, 1, 1]
    """
    canonical, sim, con = kc.canonical.copy(), kc.similarity.copy(), kc.containment.copy()
    n = len(canonical)
    keys = np.arange(n)
    a, b = edges[:, 0].astype(np.int64), edges[:, 1].astype(np.int64)
    x, y, w = np.concatenate((a, b)), np.concatenate((b, a)), np.concatenate((jaccard, jaccard)).astype(float)
    head = canonical == keys
    # other canonicals a key could go to: those it has an edge to, and its neighbours'
    cx = np.concatenate((x[~head[x] & head[y]], x[~head[x] & (canonical[y] >= 0)]))
    ch = np.concatenate((y[~head[x] & head[y]], canonical[y[~head[x] & (canonical[y] >= 0)]]))
    other = (ch != canonical[cx]) & (rank[ch] < rank[cx])
    code = distinct(cx[other] * n + ch[other])
    cx, ch = code // n, code % n
    ok, jac, con_c = match(cx, ch) if len(cx) else (np.zeros(0, dtype=bool), np.zeros(0), np.zeros(0))
    cx, ch, jac, con_c = cx[ok], ch[ok], np.asarray(jac, dtype=float)[ok], np.asarray(con_c, dtype=float)[ok]
    if len(cx) == 0:
        return kc
    order = np.argsort(x, kind="stable")
    neighbour, weight = y[order], w[order]
    first_edge = np.searchsorted(x[order], np.arange(n + 1))
    first_option = np.searchsorted(cx, np.arange(n + 1))  # cx is sorted: options grouped by key
    for k in sorted(distinct(cx).tolist(), key=lambda key: rank[key]):
        near_k, w_k = neighbour[first_edge[k] : first_edge[k + 1]], weight[first_edge[k] : first_edge[k + 1]]
        options = [(int(canonical[k]), float(sim[k]), float(con[k]))] if canonical[k] >= 0 else []
        options += list(zip(ch[first_option[k] : first_option[k + 1]].tolist(), jac[first_option[k] : first_option[k + 1]].tolist(),
                            con_c[first_option[k] : first_option[k + 1]].tolist()))
        in_cluster = canonical[near_k]

        def score(option: tuple[int, float, float]) -> tuple[bool, float, int]:
            # summed in sorted order: the same whatever order the engine numbered the keys in
            together = np.sort(w_k[(in_cluster == option[0]) & (near_k != option[0])])
            near = threshold is not None and option[1] >= threshold - 1e-12
            return near, option[1] + float(together.sum()), -int(rank[option[0]])

        canonical[k], sim[k], con[k] = max(options, key=score)
    kept = np.zeros(n, dtype=bool)
    kept[canonical[(canonical >= 0) & (canonical != keys)]] = True
    alone = (canonical == keys) & ~kept
    canonical[alone], sim[alone], con[alone] = -1, 0.0, 0.0
    return KeyClusters(canonical, sim, con)
