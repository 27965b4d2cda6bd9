"""LSH: the S-curve parameters and sort-based bucketing."""

import itertools

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from dedup.match.lsh import anchor_pairs, bucket_pairs, candidate_pairs, candidate_probability, optimal_bands


def test_optimal_bands_reach_the_recall_target():
    for threshold in (0.5, 0.7, 0.8, 0.85):
        for num_perm in (64, 128, 256):
            b, r = optimal_bands(threshold, num_perm)
            assert b * r <= num_perm
            assert candidate_probability(threshold, b, r) >= 0.995


def test_optimal_bands_prefer_fewer_false_positives():
    b, r = optimal_bands(0.8, 128)
    # the textbook 32 x 4 also reaches the recall target but verifies far more dissimilar pairs
    assert candidate_probability(0.5, b, r) < candidate_probability(0.5, 32, 4)


@given(st.lists(st.integers(0, 5), max_size=40), st.integers(1, 10))
def test_bucket_pairs_cover_small_buckets_completely(values, window):
    hashes = np.array(values, dtype=np.uint64)
    got = {tuple(p) for p in bucket_pairs(hashes, window).tolist()}
    for value in set(values):
        members = [i for i, v in enumerate(values) if v == value]
        if len(members) <= window + 1:
            assert set(itertools.combinations(members, 2)) <= got
    assert all(values[i] == values[j] and i < j for i, j in got)


@given(st.lists(st.integers(0, 3), min_size=2, max_size=60), st.integers(1, 4))
def test_large_buckets_stay_connected_and_linear(values, window):
    hashes = np.array(values, dtype=np.uint64)
    pairs = bucket_pairs(hashes, window).tolist()
    assert len(pairs) <= len(values) * window
    parent = list(range(len(values)))

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for i, j in pairs:
        parent[find(i)] = find(j)
    for i, j in itertools.combinations(range(len(values)), 2):
        if values[i] == values[j]:
            assert find(i) == find(j)


def test_candidate_pairs_are_distinct_and_ordered():
    bands = np.array([[1, 2], [1, 2], [3, 2], [1, 9]], dtype=np.uint64)
    assert candidate_pairs(bands).tolist() == [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3]]


@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 60)), min_size=0, max_size=400), st.integers(2, 5), st.sampled_from([0.2, 0.5, 0.8]))
def test_anchor_pairs_in_passes_are_the_pairs_of_one_pass(anchors, passes, min_share):
    """A pass keeps the pairs of one class of codes: each pair's shared anchors are all counted
    in its pass, so no pair is lost, split, or found twice, and the pairs come sorted."""
    distinct = sorted(set(anchors))  # a key's anchors are distinct and sorted, as signing gives them
    owner = np.array([k for k, _ in distinct], dtype=np.int32)
    values = np.array([v * 16 for _, v in distinct], dtype=np.uint32)
    one = anchor_pairs(owner, values, min_share=min_share, passes=1)
    assert anchor_pairs(owner, values, min_share=min_share, passes=passes).tolist() == one.tolist()
    assert list(map(tuple, one.tolist())) == sorted(set(map(tuple, one.tolist())))
