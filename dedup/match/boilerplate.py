"""Boilerplate: reuse of a different kind, told apart from real text reuse.

Page furniture ("下面是小编为大家整理的…", "同志们:", navigation and copyright lines) recurs in
many documents that otherwise have nothing to do with each other; a reused passage travels with
related text. So a cluster is *boilerplate* when

* it spans at least ``min_docs`` documents (3: two documents sharing a line is ordinary reuse), and
* its documents are otherwise unrelated: fewer than half of their pairs share any other cluster
  that is not itself widespread (clusters in ``min_docs`` documents or more are furniture
  candidates, so two pages of one site are not "related" merely through their shared furniture).

At most ``sample`` documents per cluster (the first, in corpus order) are compared, so a line on
every page of a million-page dump costs ``sample^2 / 2`` set intersections, not 10^12.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Mapping, Sequence

MIN_DOCS = 3
SAMPLE = 32
RELATED_SHARE = 0.5


def find_boilerplate(
    cluster_docs: Mapping[int, Sequence[int]], min_docs: int = MIN_DOCS, sample: int = SAMPLE
) -> set[int]:
    """The ids of the boilerplate clusters, given each cluster's distinct documents.

    >>> furniture = {1: [1, 2, 3, 4]}                     # one line on four unrelated pages
    >>> reuse = {1: [1, 2, 3], 2: [1, 2], 3: [2, 3], 4: [1, 3]}  # pages that share other text
    >>> find_boilerplate(furniture), find_boilerplate(reuse)
    ({1}, set())
    """
    widespread = {c for c, docs in cluster_docs.items() if len(docs) >= min_docs}
    content: dict[int, set[int]] = defaultdict(set)
    for c, docs in cluster_docs.items():
        if c not in widespread:
            for d in docs:
                content[d].add(c)
    found = set()
    for c in sorted(widespread):
        docs = sorted(cluster_docs[c])[:sample]
        pairs = list(itertools.combinations(docs, 2))
        related = sum(1 for x, y in pairs if content[x] & content[y])
        if related < RELATED_SHARE * len(pairs):
            found.add(c)
    return found
