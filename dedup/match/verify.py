"""Verify candidate pairs on their real shingle sets: only verified similarity makes an edge.

MinHash-LSH and shared anchors propose pairs; what is stored and used for clustering is exact:
the Jaccard index of the two keys' shingle sets, |A & B| / |A | B|, and their containment,
|A & B| / min(|A|, |B|), which finds truncated copies and paragraphs pasted inside longer ones. It is computed for whole batches of
pairs at once: the elements of both sets of every pair are tagged with the pair's number and
sorted together, and an element that appears twice under one tag is in the intersection.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import compiled
from .distinct import distinct
from .signatures import SHINGLE_ID_BITS, shingle_hashes, unique_per_key
from ..workers import published, spans_by_cost

PAIR_BATCH_ELEMENTS = 4_000_000  # shingles gathered per batch: bounds the memory of verification
# The pair number must fit in the bits above the shingle id: every pair costs at least 2
# elements (no signed key has an empty set), so a batch holds at most PAIR_BATCH_ELEMENTS / 2.
assert PAIR_BATCH_ELEMENTS // 2 < 1 << (64 - SHINGLE_ID_BITS)


@dataclass(frozen=True)
class ShingleSets:
    """The distinct shingle ids of every key: key i owns ``hashes[offsets[i]:offsets[i+1]]``,
    sorted (ids are 40-bit: see ``signatures.unique_per_key``)."""

    hashes: np.ndarray
    offsets: np.ndarray

    @classmethod
    def from_shingles(cls, hashes: np.ndarray, offsets: np.ndarray) -> "ShingleSets":
        return cls(*unique_per_key(hashes, offsets))

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def score(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(Jaccard, containment) of every pair (a[i], b[i])."""
        return score_pairs(self, a, b)


class KeySets:
    """The shingle sets of keys kept on disk (``KeyStore``), computed again for each batch of
    pairs instead of held for the whole corpus: memory follows the batch, not the corpus.

    ``ids[i]`` is the store index of key i; ``sizes[i]`` its set size (known from signing); the
    shingles are those ``config`` signs with (``signatures.shingle_hashes``). ``store`` is a
    ``KeyStore`` or ``update.KeyTexts``: both give ``get`` and ``read_view``.
    """

    def __init__(self, store, ids: np.ndarray, sizes: np.ndarray, config, batch_shingles: int = 2_000_000):
        self.store, self.ids, self.sizes = store, ids, sizes
        self.dense_k, self.k = config.shingle_sizes()
        self.seed = config.seed
        self.batch_shingles = batch_shingles
        self.pool = None  # a process pool forked after this object was published (see use_pool)
        self.on_pairs = None  # called with the number of pairs of each scored batch (progress)

    def use_pool(self, pool) -> None:
        """Score batches on ``pool``, whose workers were forked after ``workers.publish(self)``."""
        self.pool = pool

    def __len__(self) -> int:
        return len(self.ids)

    def score(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(Jaccard, containment) of every pair (a[i], b[i]), batch by batch."""
        a = np.asarray(a, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        jac, con = np.empty(len(a)), np.empty(len(a))
        # a batch's keys hold about batch_shingles shingles (each pair counted with both sides,
        # so shared keys make it smaller): bounds the memory of shingling them again
        spans = spans_by_cost(self.sizes[a] + self.sizes[b], self.batch_shingles)
        jobs = [(a[s:e], b[s:e]) for s, e in spans]
        results = self.pool.imap(_score_published, jobs) if self.pool and len(jobs) > 1 else map(self._score_batch, jobs)
        for (s, e), (j, c) in zip(spans, results):
            jac[s:e], con[s:e] = j, c
            if self.on_pairs:
                self.on_pairs(e - s)
        return jac, con

    def _score_batch(self, pair: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        a, b = pair
        if compiled.available():
            # the core shingles each key of a pair into a hash set and counts the common ids;
            # pairs come sorted by their first key, whose set it keeps while that key repeats
            data, offsets, positions = self.store.read_view(np.concatenate((self.ids[a], self.ids[b])))
            inter = compiled.pair_intersections(data, offsets, positions[: len(a)], positions[len(a) :], self.k, self.dense_k, self.seed)
            return similarities(inter, self.sizes[a], self.sizes[b])
        keys = distinct(np.concatenate((a, b)))
        texts = self.store.get(self.ids[keys].tolist())
        local = ShingleSets.from_shingles(*shingle_hashes(texts, self.k, self.seed, dense_k=self.dense_k))
        return score_pairs(local, np.searchsorted(keys, a), np.searchsorted(keys, b))


def _score_published(pair: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    return published()._score_batch(pair)


def _gather(sets: ShingleSets, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate the sets of ``keys``; also return the position in ``keys`` of every element."""
    sizes = sets.sizes[keys]
    owner = np.repeat(np.arange(len(keys), dtype=np.int64), sizes)
    starts = np.repeat(sets.offsets[keys] - np.concatenate(([0], np.cumsum(sizes)[:-1])), sizes)
    return sets.hashes[starts + np.arange(len(owner), dtype=np.int64)], owner


def intersection_sizes(sets: ShingleSets, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|A_i & B_i| for every pair (a[i], b[i]).

    Every key's set is sorted, so with a sort key of (pair number, shingle id) the A sides of a
    batch form one sorted run and the B sides another; one ``searchsorted`` of the first into
    the second finds every common element, no sort needed. The pair number takes the 24 bits
    above the 40-bit shingle id, so the sort key is exact.
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    if compiled.available():
        return compiled.intersections(sets.hashes, sets.offsets, a, b)
    return intersection_sizes_numpy(sets, a, b)


def intersection_sizes_numpy(sets: ShingleSets, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``intersection_sizes`` in numpy: the reference of the compiled core's merge."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    out = np.zeros(len(a), dtype=np.int64)
    for start, stop in spans_by_cost(sets.sizes[a] + sets.sizes[b], PAIR_BATCH_ELEMENTS):
        ha, pa = _gather(sets, a[start:stop])
        hb, pb = _gather(sets, b[start:stop])
        if len(hb):
            ka = (pa.astype(np.uint64) << np.uint64(SHINGLE_ID_BITS)) | ha
            kb = (pb.astype(np.uint64) << np.uint64(SHINGLE_ID_BITS)) | hb
            pos = np.minimum(np.searchsorted(kb, ka), len(kb) - 1)
            out[start:stop] = np.bincount(pa[kb[pos] == ka], minlength=stop - start)
    return out


def jaccard(sets: ShingleSets, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact Jaccard similarity of the shingle sets of every pair (a[i], b[i]), in [0, 1]."""
    return score_pairs(sets, a, b)[0]


def score_pairs(sets: ShingleSets, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Jaccard, containment) of every pair: |A & B| / |A | B| and |A & B| / min(|A|, |B|)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    return similarities(intersection_sizes(sets, a, b), sets.sizes[a], sets.sizes[b])


def similarities(inter: np.ndarray, size_a: np.ndarray, size_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Jaccard, containment) from intersection and set sizes; 1.0 for two empty sets."""
    union = size_a + size_b - inter
    smaller = np.minimum(size_a, size_b)
    jac = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    con = np.where(smaller > 0, inter / np.maximum(smaller, 1), 1.0)
    return jac, con


@dataclass(frozen=True)
class MatchRule:
    """When two keys are copies: Jaccard at the threshold (``near``), or, for a partial copy,
    most of the smaller set inside the larger (``contained``).

    ``containment`` is the share of the smaller key's shingles that must lie in the larger one
    (0 turns containment off). The larger must also be really larger (the smaller at most
    that share of its size): two paragraphs of about the same length are judged by Jaccard
    alone, else containment (2J / (1 + J) for equal sizes) would quietly lower the threshold.
    ``min_contained`` is the fewest shingles the smaller key must have, so that a stock phrase is
    never "contained" in every paragraph that uses it.

    A long smaller key needs less: from ``long_min`` shingles on, ``long_containment`` is
    enough (when lower than ``containment``; 0 or a ``long_min`` of 0 leaves it out). The
    share a copy keeps falls with what was done to it, not with its length: a foreign
    sentence inserted into half of a broken line, or two character edits in a line broken in
    two, leave 80-90% of the half's shingles in the source. A short key sharing 80% of its
    shingles with a longer one is mostly a frame filled in differently: one holder's
    "Copyright: 2011 <name>" line in another year, "Files: contrib/perl/*" in "Files:
    contrib/persistent-https/*"; a long one shares whole sentences. On the generated
    benchmark (``python -m bench quality``, format 2) 0.8 from 40 shingles (config.py) takes
    copy recall from 0.966 to 0.972 at the same precision (0.998); on Debian's copyright files it makes
    66 new partial copies among 244,000 members, half of them licence sentences reworded
    (the Autoconf exception, "Everyone is permitted to copy ..."), half one holder's
    notices of other years, a kind the 0.9 rule already makes 1,900 times there. From 20
    shingles it makes 237 there, nearly all such notices; from 60, 31 (bench/README.md).
    """

    threshold: float
    containment: float = 0.0
    min_contained: int = 0
    long_containment: float = 0.0
    long_min: int = 0

    def required_containment(self, smaller: np.ndarray) -> np.ndarray:
        """The containment a pair needs, given the set size of its smaller key."""
        need = np.full(np.shape(smaller), float(self.containment))
        if self.long_min > 0 and 0 < self.long_containment < self.containment:
            need[np.asarray(smaller) >= self.long_min] = self.long_containment
        return need

    def apply(self, sets: "ShingleSets | KeySets", a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(is a copy, Jaccard, containment) of every pair (a[i], b[i])."""
        jac, con = sets.score(a, b)
        size_a, size_b = sets.sizes[np.asarray(a, dtype=np.int64)], sets.sizes[np.asarray(b, dtype=np.int64)]
        return self.judge(jac, con, size_a, size_b), jac, con

    def judge(self, jac: np.ndarray, con: np.ndarray, size_a: np.ndarray, size_b: np.ndarray) -> np.ndarray:
        """Which pairs are copies, given their scores and set sizes (scores may come from an
        earlier scan, see update.py)."""
        ok = jac >= self.threshold - 1e-12
        if self.containment > 0:
            smaller, larger = np.minimum(size_a, size_b), np.maximum(size_a, size_b)
            need = self.required_containment(smaller)
            ok |= (con >= need - 1e-12) & (smaller >= self.min_contained) & (smaller <= need * larger)
        return ok

    def accepts(self, size_a: int, size_b: int, inter: int) -> tuple[bool, float, float]:
        """``apply`` for one pair given its set sizes and intersection: (is a copy, Jaccard,
        containment). For lookups of one key at a time, where numpy's per-call cost dominates."""
        union, smaller, larger = size_a + size_b - inter, min(size_a, size_b), max(size_a, size_b)
        jac = inter / union if union else 1.0
        con = inter / smaller if smaller else 1.0
        need = self.containment
        if self.long_min > 0 and 0 < self.long_containment < self.containment and smaller >= self.long_min:
            need = self.long_containment
        ok = jac >= self.threshold - 1e-12 or (
            self.containment > 0
            and con >= need - 1e-12
            and smaller >= self.min_contained
            and smaller <= need * larger
        )
        return ok, jac, con
