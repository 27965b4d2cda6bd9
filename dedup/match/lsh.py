"""Locality-sensitive hashing: signatures -> band hashes -> candidate pairs.

A signature of ``num_perm`` values is cut into ``b`` bands of ``r`` rows. Two keys whose
signatures agree on every row of at least one band become a candidate pair. With Jaccard
similarity s, P[candidate] = 1 - (1 - s^r)^b: the S-curve (Indyk & Motwani 1998; Leskovec,
Rajaraman & Ullman, *Mining of Massive Datasets*, ch. 3.4).

Choosing b and r: datasketch minimizes the integrated false-positive and false-negative
probabilities with equal weights, which for threshold 0.8 and 128 permutations leaves a pair at
the threshold found only 40% of the time. Here every candidate is verified on the real shingle
sets, so a false positive costs only verification time while a false negative is a copy lost
for good. ``optimal_bands`` therefore requires P[candidate] >= 0.995 at the threshold and, among
the (b, r) that reach it, takes the one that verifies the fewest dissimilar pairs. For the
defaults (threshold 0.6, num_perm 128) that is b = 22, r = 3 (66 of 128 values used):

    similarity   0.20   0.30   0.40   0.50   0.55   0.60   0.65   0.70
    P[candidate] 0.162  0.452  0.767  0.947  0.982  0.995  0.999  1.000

so a pair at the threshold is missed about once in 200, and a pair at 0.3 is verified (and
rejected) about half the time. At threshold 0.8 the same rule gives b = 18, r = 6.

Partial copies (a truncated paragraph, one pasted inside a longer one) can have a Jaccard far
below the threshold, where the S-curve rarely proposes them. They are found by *anchors*: a
content-defined sample in the manner of winnowing (Schleimer, Wilkerson & Aiken 2003), so that
two keys sharing a run of text share its anchors wherever the run sits. An anchor joins the
shingle at one position with the one ``ANCHOR_GAP`` (5) positions on, and is kept when its hash
is 0 modulo ``ANCHOR_MOD`` (16). Joined, it stands for 8 Han or 10 Latin characters: a single
3-gram of Chinese ("防控工") or 5-gram of English ("the c") is in thousands of paragraphs that copy
nothing from each other, and anchors that common are stock (below) and find nothing. On the
generated benchmark, single-shingle anchors proposed 673 of the 1,736 partial copies whose
Jaccard is under the threshold, joined ones 1,513, with fewer candidate pairs (9,241 against
11,015) and as many anchors, and pair F1 on the dump without inserted sentences went from 0.975
to 0.987. A shared run of L shingles holds no anchor with probability (15/16)^(L-5): 72% for 10
shingles, 30% for 25, 5% for 50. Keys sharing an anchor become candidates; an anchor shared by
more than ``ANCHOR_MAX_BUCKET`` distinct keys is a stock phrase of the genre and is dropped,
which bounds the work. Since anchors sample the text, the share of the smaller key's anchors
that a pair shares estimates its containment: pairs under half (the threshold is 0.9) are not
proposed, so one shared phrase does not make a candidate.

Buckets are found by sorting each band's hashes, never in Python dicts of lists. Inside a
bucket, each member is paired with its next ``window`` members in sorted order: every pair of
a bucket up to ``window + 1`` members, and a connected chain of pairs in larger buckets, so one
huge bucket costs O(size x window) pairs, never O(size^2).
"""

from __future__ import annotations

import functools

import numpy as np
from .distinct import distinct
from .signatures import SHINGLE_ID_BITS, mix64, segment_ids

SHINGLE_ID_SHIFT = 64 - SHINGLE_ID_BITS
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)

RECALL_AT_THRESHOLD = 0.995
BUCKET_WINDOW = 8
ANCHOR_MOD = 16  # one anchor position in 16 (by hash value) is an anchor
ANCHOR_GAP = 5  # an anchor joins two shingles this many positions apart
ANCHOR_MAX_BUCKET = 50  # an anchor shared by more distinct keys is a stock phrase, not a copy
ANCHOR_MIN_SHARE = 0.5  # shared anchors / anchors of the smaller key: a containment estimate
_SLICE = 1 << 18  # pair codes tested at a time
ANCHORS_PER_PASS = 8_000_000  # anchors whose shared-anchor codes one pass of anchor_pairs holds (15.9 M anchors in one pass: +351 MB, under 3 codes an anchor)


def candidate_probability(s: float, b: int, r: int) -> float:
    """P[two keys of Jaccard s share a band] = 1 - (1 - s^r)^b.

    >>> round(candidate_probability(0.8, 18, 6), 4)
    0.9958
    """
    return 1.0 - (1.0 - s**r) ** b


@functools.lru_cache(maxsize=64)  # ~15 ms of integrals; lookups ask for it once a query
def optimal_bands(threshold: float, num_perm: int, recall: float = RECALL_AT_THRESHOLD) -> tuple[int, int]:
    """(b, r) with b * r <= num_perm that reach ``recall`` at the threshold with the least work.

    Among the (b, r) whose S-curve gives P[candidate] >= ``recall`` at the threshold, take the one
    with the smallest false-positive area (the integral of the S-curve below the threshold: how
    many dissimilar pairs are verified for nothing); ties go to fewer hashes (b * r).
    When none reaches ``recall``, take the one with the highest P[candidate] at the threshold.

    >>> optimal_bands(0.6, 128), optimal_bands(0.8, 128)
    ((22, 3), (18, 6))
    """
    below = np.linspace(0.0, threshold, 401)
    best, best_score = (1, 1), (1, float("inf"), 0)
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            p = candidate_probability(threshold, b, r)
            fp_area = float(np.trapezoid(1.0 - (1.0 - below**r) ** b, below))
            score = (0, fp_area, b * r) if p >= recall else (1, -p, b * r)
            if score < best_score:
                best, best_score = (b, r), score
    return best


def band_hashes(signatures: np.ndarray, b: int, r: int) -> np.ndarray:
    """Hash each band of each signature to one uint64, shape (n, b)."""
    n = signatures.shape[0]
    bands = signatures[:, : b * r].reshape(n, b, r).astype(np.uint64)
    h = np.arange(1, b + 1, dtype=np.uint64)[None, :] * np.uint64(0x9E3779B97F4A7C15)
    h = np.broadcast_to(h, (n, b)).copy()
    for j in range(r):
        h = mix64(h ^ bands[:, :, j])
    return h


def bucket_pairs(hashes: np.ndarray, window: int = BUCKET_WINDOW) -> np.ndarray:
    """Pairs (i, j), i < j, of rows with equal hashes in one band, shape (m, 2).

    >>> bucket_pairs(np.array([5, 7, 5, 5, 9], dtype=np.uint64)).tolist()
    [[0, 2], [2, 3], [0, 3]]
    """
    return group_pairs(hashes, np.arange(len(hashes), dtype=np.int64), window)


def group_pairs(values: np.ndarray, rows: np.ndarray, window: int, max_bucket: int | None = None) -> np.ndarray:
    """Pairs of ``rows`` with equal ``values``: each paired with its next ``window`` in sorted order.

    Groups larger than ``max_bucket`` are dropped whole.
    """
    order = stable_order(values)
    sorted_v, sorted_rows = values[order], rows[order]
    if max_bucket is not None and len(sorted_v):
        starts = np.nonzero(np.r_[True, sorted_v[1:] != sorted_v[:-1]])[0]
        sizes = np.diff(np.r_[starts, len(sorted_v)])
        keep = np.repeat(sizes <= max_bucket, sizes)
        sorted_v, sorted_rows = sorted_v[keep], sorted_rows[keep]
    pairs = []
    for d in range(1, window + 1):
        same = sorted_v[d:] == sorted_v[:-d]
        if not same.any():
            break
        idx = np.nonzero(same)[0]
        pairs.append(np.stack([sorted_rows[idx], sorted_rows[idx + d]], axis=1))
    if not pairs:
        return np.zeros((0, 2), dtype=np.int64)
    out = np.sort(np.concatenate(pairs).astype(np.int64), axis=1)
    return out[out[:, 0] != out[:, 1]]


def stable_order(values: np.ndarray) -> np.ndarray:
    """``np.argsort(values, kind="stable")``; for values of 32 bits or fewer (band hashes,
    anchor values), by one sort of (value, position) codes, which was 1.4x faster than the
    stable argsort on the 495,000 keys of a 400 MB dump's band.

    >>> stable_order(np.array([7, 3, 7, 3], dtype=np.uint32)).tolist()
    [1, 3, 0, 2]
    """
    small = values.dtype.kind in "ub" or (values.dtype.kind == "i" and not (len(values) and values.min() < 0))
    if not small or values.dtype.itemsize > 4 or len(values) >= 1 << 32:
        return np.argsort(values, kind="stable")
    codes = (values.astype(np.uint64) << np.uint64(32)) | np.arange(len(values), dtype=np.uint64)
    codes.sort()
    return (codes & np.uint64(0xFFFFFFFF)).astype(np.int64)


def anchors(hashes: np.ndarray, offsets: np.ndarray, mod: int | None = None, gap: int = ANCHOR_GAP) -> tuple[np.ndarray, np.ndarray]:
    """(key index as int32, anchor value as uint32) of every distinct anchor of every key, each
    key's sorted, from its shingle hashes in text order (``signatures.shingle_hashes``).

    An anchor joins the shingle at one position with the one ``gap`` positions on: it stands for
    ``gap`` + n characters of text, rare enough that keys sharing it share a passage rather than
    a common word or two. It is picked when its 40-bit id is a multiple of ``mod``, so its low
    bits say nothing: the value kept is the 32 bits above the lowest 8 (a chance collision only
    proposes a pair that verification drops). A key of ``gap`` shingles or fewer has none.

    >>> from dedup.match.signatures import shingle_hashes
    >>> text = "the quick brown fox jumps over the lazy dog "
    >>> owner, values = anchors(*shingle_hashes([text * 3, "and so " + text * 3, "x" * 9], 5), mod=4)
    >>> first, second = set(values[owner == 0].tolist()), set(values[owner == 1].tolist())
    >>> len(first) > 0 and first <= second, 2 in owner
    (True, False)
    """
    mod = ANCHOR_MOD if mod is None else mod
    owner = segment_ids(offsets)
    ids = hashes >> np.uint64(SHINGLE_ID_SHIFT)
    at = np.nonzero(owner[:-gap] == owner[gap:])[0] if len(ids) > gap else np.zeros(0, np.int64)
    joined = mix64(ids[at] * _GOLDEN ^ ids[at + gap]) >> np.uint64(SHINGLE_ID_SHIFT)
    picked = joined % np.uint64(mod) == 0
    # distinct per key and sorted: one sort of (key, anchor) codes
    codes = distinct((owner[at][picked].astype(np.uint64) << np.uint64(40)) | joined[picked])
    key = (codes >> np.uint64(40)).astype(np.int32)
    value = ((codes & np.uint64((1 << 40) - 1)) >> np.uint64(8)).astype(np.uint32)
    return key, value


def anchor_pairs(
    owner: np.ndarray,
    values: np.ndarray,
    window: int = BUCKET_WINDOW,
    max_bucket: int = ANCHOR_MAX_BUCKET,
    min_share: float = ANCHOR_MIN_SHARE,
    chunks: int = 16,
    passes: int | None = None,
) -> np.ndarray:
    """Distinct pairs of keys that share enough anchors, sorted.

    Anchors are a sample of the shingles, so the share of the smaller key's anchors that the
    pair shares estimates their containment; pairs below ``min_share`` are not proposed.
    Stock-phrase anchors (buckets over ``max_bucket`` keys) are dropped first. Anchors are
    grouped one slice of values at a time (``chunks`` slices), so sorting never holds them all,
    and each shared anchor costs one int64 code until the final count. The codes of a corpus
    with many anchors are counted in ``passes`` (default: one per ``ANCHORS_PER_PASS`` anchors),
    each keeping the pairs whose code falls in its class: every pair is counted whole in one
    pass, and one pass's codes are held at a time (counting the 15.9 million anchors of a 1 GB
    dump in one pass took its scan's RSS from 653 to 1,004 MB, the peak of the scan).

    >>> anchor_pairs(np.array([0, 1, 2, 2]), np.array([16, 16, 32, 48], dtype=np.uint64)).tolist()
    [[0, 1]]
    >>> anchor_pairs(np.array([0, 0, 1, 1]), np.array([16, 32, 16, 48], dtype=np.uint64), min_share=0.6).tolist()
    []
    >>> pairs = np.array([0, 1, 2, 3, 0, 2]), np.array([16, 16, 16, 32, 32, 48], dtype=np.uint64)
    >>> anchor_pairs(*pairs, passes=3).tolist() == anchor_pairs(*pairs, passes=1).tolist()
    True
    """
    n = int(owner.max(initial=0)) + 1
    passes = max(1, 1 + len(values) // ANCHORS_PER_PASS if passes is None else passes)
    part = (values % np.asarray(chunks, dtype=values.dtype)).astype(np.int8) if len(values) else np.zeros(0, np.int8)
    per_key = np.bincount(owner, minlength=n)
    kept = []
    for p in range(passes):
        codes = _shared_anchor_codes(values, owner, part, chunks, n, (p, passes), window, max_bucket)
        if len(codes):
            kept.append(_share_test(codes, per_key, n, min_share))
    if not kept:
        return np.zeros((0, 2), dtype=np.int64)
    out = np.concatenate(kept)
    return out if passes == 1 else out[np.lexsort((out[:, 1], out[:, 0]))]


def _shared_anchor_codes(values, owner, part, chunks: int, n: int, of_pass: tuple[int, int], window: int, max_bucket: int) -> np.ndarray:
    """One code (i * n + j) for every anchor that keys i < j share, sorted, for the pairs of
    one pass (``of_pass``: the pass and how many there are; a pair's class is its code modulo
    the number of passes)."""
    p, passes = of_pass
    found = []
    for c in range(chunks):
        mask = part == c
        pairs = group_pairs(values[mask], owner[mask], window, max_bucket)
        if len(pairs):
            codes = pairs[:, 0] * n + pairs[:, 1]
            found.append(codes if passes == 1 else codes[codes % passes == p])
    # counted by one sort in place: unique(..., return_counts=True) made three more copies of
    # the codes, the peak of a scan's memory (403 MB for 6.5 million anchors)
    codes = np.empty(sum(map(len, found)), dtype=np.int64)
    at = 0
    while found:  # each chunk's codes freed as soon as they are copied
        chunk = found.pop(0)
        codes[at : at + len(chunk)] = chunk
        at += len(chunk)
    codes.sort()
    return codes


def _share_test(codes: np.ndarray, per_key: np.ndarray, n: int, min_share: float) -> np.ndarray:
    """The pairs (sorted) of sorted shared-anchor ``codes`` whose shared anchors are at least
    ``min_share`` of the smaller key's (``per_key``: each key's number of anchors)."""
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    shared = np.diff(np.r_[starts, len(codes)]).astype(np.int32)
    codes = codes[starts]
    del starts
    kept = []
    # a slice at a time: most pairs share one stock anchor and fail the share test, and the
    # arrays of the test for all of them at once were the rest of that peak
    for s in range(0, len(codes), _SLICE):
        a, b = codes[s : s + _SLICE] // n, codes[s : s + _SLICE] % n
        keep = shared[s : s + _SLICE] >= min_share * np.minimum(per_key[a], per_key[b])
        kept.append(np.stack([a[keep], b[keep]], axis=1))
    return np.concatenate(kept)


def _union(codes: list[np.ndarray], n: int) -> np.ndarray:
    """Distinct pairs, sorted, shape (m, 2), from arrays of pair codes i * n + j."""
    if not codes:
        return np.zeros((0, 2), dtype=np.int64)
    unique = distinct(np.concatenate(codes))
    return np.stack([unique // n, unique % n], axis=1)


def merge_pairs(*pair_sets: np.ndarray, n: int) -> np.ndarray:
    """The union of several pair arrays over n keys, distinct and sorted."""
    return _union([p[:, 0] * n + p[:, 1] for p in pair_sets if len(p)], n)


def candidate_pairs(bands: np.ndarray, window: int = BUCKET_WINDOW, on_band=None) -> np.ndarray:
    """Distinct candidate pairs over all bands, sorted, shape (m, 2) with i < j.

    Each band's pairs are kept as one int64 code each (i * n + j) until the single ``unique``;
    ``on_band()`` is called after each band (progress).
    """
    n = bands.shape[0]
    codes = []
    for i in range(bands.shape[1]):
        p = bucket_pairs(np.ascontiguousarray(bands[:, i]), window)
        if len(p):
            codes.append(p[:, 0] * n + p[:, 1])
        if on_band:
            on_band()
    return _union(codes, n)
