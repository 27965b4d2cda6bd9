"""Shingles and MinHash signatures for whole batches of keys at once, in numpy.

Why not one ``datasketch.MinHash`` per paragraph: that costs a Python object per shingle and
``num_perm`` modular multiplications per shingle, well under 1 MB/s of Chinese text. Here:

1. A batch of keys becomes one array of code points; the hash of every character k-gram is
   computed for the whole batch with k vectorized multiply-add passes and a splitmix64 finalizer
   (``shingle_hashes``). Keys shorter than k give one shingle: the whole key.
2. Signatures use one-permutation hashing (Li, Owen & Zhang 2012): each shingle hash is
   hashed once; its high bits choose one of ``num_perm`` bins and its low 32 bits are the value,
   and each bin keeps its minimum. That is one pass over the shingles instead of ``num_perm``.
3. Bins left empty (keys with fewer shingles than bins) are filled by optimal densification
   (Shrivastava 2017): an empty bin copies the value of the first non-empty bin in a fixed
   pseudo-random probe sequence that depends only on the bin, so two keys with the same
   shingles always fill their empty bins the same way, and P[bin equal] stays the Jaccard.

``tests/match/test_signatures.py`` checks the estimate against exact Jaccard and against datasketch.
"""

from __future__ import annotations

import re

from typing import Sequence

import numpy as np

_U64 = np.uint64
_GOLDEN = _U64(0x9E3779B97F4A7C15)
_MIX1 = _U64(0xBF58476D1CE4E5B9)
_MIX2 = _U64(0x94D049BB133111EB)
EMPTY = np.uint32(0xFFFFFFFF)


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer: a bijection of uint64 that spreads every input bit over the output."""
    x = x.astype(_U64, copy=True)
    x ^= x >> _U64(30)
    x *= _MIX1
    x ^= x >> _U64(27)
    x *= _MIX2
    x ^= x >> _U64(31)
    return x


DENSE_SCRIPT_START = 0x2E80  # CJK radicals onwards: ideographs, kana, Hangul, full-width forms
DENSE_SHARE = 0.5


_DENSE_CHAR = re.compile(f"[{chr(DENSE_SCRIPT_START)}-\U0010ffff]")


def is_dense(key: str) -> bool:
    """True when most characters of ``key`` are of a dense script (Han, kana, Hangul).

    A Han character carries about as much as a short word, so dense keys are shingled with a
    smaller n than alphabetic ones; ``shingle_hashes`` decides the same way, in numpy.

    >>> is_dense("疫情防控工作"), is_dense("the quick brown fox"), is_dense("xx县疫情")
    (True, False, True)
    """
    return bool(key) and len(_DENSE_CHAR.findall(key)) >= DENSE_SHARE * len(key)


def shingle_hashes(
    keys: Sequence[str], k: int, seed: int = 1, dense_k: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Hash every character n-gram of every key: n = ``dense_k`` for dense keys (see
    ``is_dense``) when it is given, else ``k``.

    Returns ``(hashes, offsets)``: the uint64 hashes of key i are ``hashes[offsets[i]:offsets[i+1]]``
    in text order (repeats included). A key shorter than n yields one hash of the whole key; an
    empty key yields none.

    >>> h, off = shingle_hashes(["abcdef", "abc", "abcdef"], 3)
    >>> off.tolist(), bool((h[0:4] == h[5:9]).all()), len(set(h[0:4].tolist()))
    ([0, 4, 5, 9], True, 4)
    >>> shingle_hashes(["疫情防控工作", "abcdef"], 5, dense_k=3)[1].tolist()
    [0, 4, 6]
    """
    lengths = np.fromiter((len(s) for s in keys), dtype=np.int64, count=len(keys))
    sizes = sorted({k} | ({dense_k} if dense_k else set()))
    pad = max(sizes) - 1
    # Each key is followed by pad zero code points, so a window starting inside a key never
    # reads the next key, and a short key's single window is the key padded with zeros.
    joined = ("\0" * pad).join(keys) + "\0" * pad if keys else ""
    cp = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    starts = np.zeros(len(keys), dtype=np.int64)
    if len(keys) > 1:
        starts[1:] = np.cumsum(lengths[:-1] + pad)
    n = np.full(len(keys), k, dtype=np.int64)
    if dense_k and dense_k != k and len(keys):
        dense_chars = np.add.reduceat((cp >= DENSE_SCRIPT_START).astype(np.int64), starts) if len(cp) else 0
        n[dense_chars >= DENSE_SHARE * np.maximum(lengths, 1)] = dense_k
    counts = np.where(lengths >= n, lengths - n + 1, np.minimum(lengths, 1))
    offsets = np.zeros(len(keys) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    total = int(offsets[-1])
    if total == 0:
        return np.zeros(0, dtype=_U64), offsets
    cp64 = cp.astype(_U64)
    n_windows = len(cp64) - pad
    out = np.empty(total, dtype=_U64)
    for size in sizes:
        # Hash the window of this size at every position with contiguous slices (fast), then
        # keep the windows that start a shingle of a key shingled with this size.
        h = np.full(n_windows, _U64(seed) * _GOLDEN + _U64(size), dtype=_U64)
        for j in range(size):
            h ^= cp64[j : j + n_windows]
            if j < size - 1:
                h *= _GOLDEN
        of_size = n == size
        sel = np.repeat(of_size, counts)
        positions = np.repeat((starts - offsets[:-1])[of_size], counts[of_size]) + np.nonzero(sel)[0]
        out[sel] = mix64(h[positions])
    return out, offsets


def segment_ids(offsets: np.ndarray) -> np.ndarray:
    """The key index of every element of a flat array cut by ``offsets``."""
    return np.repeat(np.arange(len(offsets) - 1, dtype=np.int64), np.diff(offsets))


SHINGLE_ID_BITS = 40  # a shingle's identity in a set: the top 40 bits of its 64-bit hash
_KEY_BITS = 64 - SHINGLE_ID_BITS


def unique_per_key(hashes: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct shingle ids of each key (its shingle set), with new offsets.

    A shingle id is the top ``SHINGLE_ID_BITS`` (40) bits of its hash: two different shingles
    share one with probability 2^-40, so a Jaccard computed on ids is off for one pair of
    500-shingle paragraphs in about five million. In exchange, (key, id) packs into one
    uint64, and one ``np.sort`` dedupes every key of a batch (``np.lexsort`` on two arrays was
    four times slower, and the slowest step of the scan).

    >>> ids, off = unique_per_key(np.array([5 << 24, 3 << 24, 5 << 24, 7 << 24], dtype=np.uint64), np.array([0, 3, 4]))
    >>> ids.tolist(), off.tolist()
    ([3, 5, 7], [0, 2, 3])
    """
    n_keys = len(offsets) - 1
    if n_keys >= 1 << _KEY_BITS:
        raise ValueError(f"at most {1 << _KEY_BITS} keys per batch")
    packed = (segment_ids(offsets).astype(_U64) << _U64(SHINGLE_ID_BITS)) | (hashes >> _U64(_KEY_BITS))
    packed.sort()
    keep = np.ones(len(packed), dtype=bool)
    keep[1:] = packed[1:] != packed[:-1]
    packed = packed[keep]
    counts = np.bincount((packed >> _U64(SHINGLE_ID_BITS)).astype(np.int64), minlength=n_keys)
    new_offsets = np.zeros(len(offsets), dtype=np.int64)
    np.cumsum(counts, out=new_offsets[1:])
    return packed & _U64((1 << SHINGLE_ID_BITS) - 1), new_offsets


def _probe_table(num_perm: int, seed: int, attempts: int) -> np.ndarray:
    """bins[j, a]: the a-th bin that empty bin j borrows from (never j itself)."""
    j = np.arange(num_perm, dtype=_U64)[:, None]
    a = np.arange(1, attempts + 1, dtype=_U64)[None, :]
    h = mix64((j * _U64(0x100000001B3) + a) ^ (_U64(seed) * _MIX1))
    table = ((h >> _U64(32)) * _U64(num_perm - 1)) >> _U64(32)
    table = table.astype(np.int64)
    return np.where(table >= j.astype(np.int64), table + 1, table)  # skip j itself


def oph_signatures(hashes: np.ndarray, offsets: np.ndarray, num_perm: int, seed: int = 1) -> np.ndarray:
    """One-permutation MinHash signatures with optimal densification, shape (n_keys, num_perm).

    >>> h, off = shingle_hashes(["the quick brown fox", "the quick brown fox"], 5)
    >>> sig = oph_signatures(h, off, 64)
    >>> sig.shape, bool((sig[0] == sig[1]).all()), bool((sig != EMPTY).all())
    ((2, 64), True, True)
    """
    n = len(offsets) - 1
    sig = np.full(n * num_perm, EMPTY, dtype=np.uint32)
    if n == 0:
        return sig.reshape(0, num_perm)
    g = mix64(hashes ^ (_U64(seed) * _MIX2))
    bins = (((g >> _U64(32)) * _U64(num_perm)) >> _U64(32)).astype(np.int64)
    values = (g & _U64(0xFFFFFFFE)).astype(np.uint32)  # even: never equal to EMPTY
    np.minimum.at(sig, segment_ids(offsets) * num_perm + bins, values)
    sig = sig.reshape(n, num_perm)
    _densify(sig, num_perm, seed)
    return sig


def _densify(sig: np.ndarray, num_perm: int, seed: int) -> None:
    """Fill empty bins in place from the probe sequence of each bin (see module docstring)."""
    filled = sig != EMPTY
    rows, cols = np.nonzero(~filled & filled.any(axis=1)[:, None])
    if len(rows) == 0:
        return
    attempts = 64
    table = _probe_table(num_perm, seed, attempts)
    result = np.empty(len(rows), dtype=np.uint32)
    pending = np.arange(len(rows))
    a = 0
    while len(pending):
        if a == attempts:  # rare: very sparse rows need a longer probe sequence
            attempts *= 4
            table = _probe_table(num_perm, seed, attempts)
        src = table[cols[pending], a]
        ok = filled[rows[pending], src]
        hit = pending[ok]
        result[hit] = sig[rows[hit], src[ok]]
        pending = pending[~ok]
        a += 1
    sig[rows, cols] = result
