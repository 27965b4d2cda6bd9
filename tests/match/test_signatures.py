"""Shingles and one-permutation MinHash: correct sets, unbiased estimates, agreement with datasketch."""

import random

import numpy as np
import pytest
from datasketch import MinHash
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.match.signatures import EMPTY, oph_signatures, shingle_hashes, unique_per_key


def python_shingles(key: str, k: int) -> set[str]:
    return {key[i : i + k] for i in range(len(key) - k + 1)} if len(key) >= k else ({key} if key else set())


@given(st.lists(st.text(max_size=40), max_size=12), st.integers(1, 6))
def test_shingle_sets_match_python(keys, k):
    h, off = shingle_hashes(keys, k)
    sets_h, sets_off = unique_per_key(h, off)
    for i, key in enumerate(keys):
        expected = python_shingles(key, k)
        assert sets_off[i + 1] - sets_off[i] == len(expected)  # no hash collision among a key's shingles


@given(st.lists(st.text(min_size=1, max_size=40), min_size=2, max_size=8), st.integers(1, 6))
def test_equal_shingles_hash_equal_across_keys(keys, k):
    h, off = shingle_hashes(keys, k)
    by_gram: dict[str, int] = {}
    for i, key in enumerate(keys):
        grams = [key[j : j + k] for j in range(len(key) - k + 1)] if len(key) >= k else [key]
        for gram, value in zip(grams, h[off[i] : off[i + 1]].tolist()):
            assert by_gram.setdefault(gram, value) == value


def _random_pairs(n, seed=0):
    rng = random.Random(seed)
    alphabet = [chr(0x4E00 + i) for i in range(3000)]
    pairs = []
    for _ in range(n):
        base = "".join(rng.choice(alphabet) for _ in range(rng.randint(15, 400)))
        rate = rng.choice([0.0, 0.01, 0.03, 0.08, 0.2])
        other = "".join(rng.choice(alphabet) if rng.random() < rate else c for c in base)
        pairs.append((base, other))
    return pairs


def _exact(a, b, k=5):
    sa, sb = python_shingles(a, k), python_shingles(b, k)
    return len(sa & sb) / len(sa | sb)


def test_oph_estimates_jaccard_without_bias():
    pairs = _random_pairs(600)
    keys = [s for pair in pairs for s in pair]
    h, off = shingle_hashes(keys, 5)
    sig = oph_signatures(h, off, 128)
    assert (sig != EMPTY).all()
    errors = np.array([np.mean(sig[2 * i] == sig[2 * i + 1]) - _exact(a, b) for i, (a, b) in enumerate(pairs)])
    assert abs(errors.mean()) < 0.01
    assert errors.std() < 0.05  # classic MinHash with 128 permutations: sqrt(J(1-J)/128) <= 0.044


def test_oph_is_as_accurate_as_datasketch_minhash():
    """Same sets, same signature length: our error is no worse than datasketch's (within noise)."""
    pairs = _random_pairs(300, seed=1)
    keys = [s for pair in pairs for s in pair]
    h, off = shingle_hashes(keys, 5)
    sig = oph_signatures(h, off, 128)
    ours, theirs = [], []
    for i, (a, b) in enumerate(pairs):
        exact = _exact(a, b)
        ours.append(np.mean(sig[2 * i] == sig[2 * i + 1]) - exact)
        ma, mb = MinHash(num_perm=128, seed=3), MinHash(num_perm=128, seed=3)
        ma.update_batch([g.encode() for g in python_shingles(a, 5)])
        mb.update_batch([g.encode() for g in python_shingles(b, 5)])
        theirs.append(ma.jaccard(mb) - exact)
    rmse = lambda e: float(np.sqrt(np.mean(np.square(e))))  # noqa: E731
    assert rmse(ours) < rmse(theirs) * 1.25 + 0.005


@settings(max_examples=50)
@given(st.lists(st.text(min_size=1, max_size=60), min_size=1, max_size=6), st.sampled_from([16, 64, 100, 128]))
def test_signature_depends_only_on_the_shingle_set(keys, num_perm):
    h, off = shingle_hashes(keys + keys[::-1], 5)
    sig = oph_signatures(h, off, num_perm)
    n = len(keys)
    for i in range(n):
        assert (sig[i] == sig[2 * n - 1 - i]).all()


@pytest.mark.parametrize("num_perm", [2, 7, 128, 256])
def test_single_shingle_keys_fill_every_bin(num_perm):
    h, off = shingle_hashes(["ab", "abc", "x"], 5)
    sig = oph_signatures(h, off, num_perm)
    assert (sig != EMPTY).all()
    assert len(set(sig[0].tolist())) == 1  # one shingle: every bin holds its value
